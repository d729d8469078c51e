//! Call flows end to end on the simulator in `flow/`: TwiML timing, conference joins and ends,
//! and call status, pinned to the 20 ms mixer tick.
//!
//! Every expected time is derived from the script: the far end's answer time, plus the fake
//! TTS's length of each `<Say>` ([`Tts::length`], 500 ms a word), plus `<Pause>` and
//! `<Gather timeout>` lengths. Web requests answer at once, so nothing else takes time.
//! Expectations follow Twilio's documented behaviour (shared/reference, §2).

mod flow;

use confab_core::room::{Event as RoomEvent, LeaveReason};
use confab_core::EndReason;
use confab_twiml::{
    code, Action, SaySegment, APPLICATION_ERROR_MESSAGE, MAX_DOCUMENTS_WITHOUT_MEDIA,
};
use flow::{ms, FarEnd, Page, World, PLAY_HZ, TICK};

/// What the fake TTS sounds like.
const SPEECH_HZ: f64 = 440.0;
/// Alice's voice.
const ALICE_HZ: f64 = 900.0;
/// Bob's voice.
const BOB_HZ: f64 = 1_100.0;

/// Whether `action` is a `<Say>` of exactly `text`.
fn says(action: &Action, text: &str) -> bool {
    matches!(action, Action::Say { segments, .. }
        if segments.as_slice() == [SaySegment::Text(text.to_owned())])
}

/// `<Say>` → `<Pause length=2>` → `<Dial><Conference>`: the caller joins at answer + say + 2 s,
/// the conference starts then, and the other member hears the joiner from the next tick.
#[test]
fn say_pause_dial_joins_after_say_and_pause() {
    let mut w = World::new();
    let greeting = "Welcome to the room";
    w.web.serve_twiml(
        "/bob",
        r#"<Dial><Conference waitUrl="" beep="false">room</Conference></Dial>"#,
    );
    w.web.serve_twiml(
        "/alice",
        &format!(
            r#"<Say>{greeting}</Say><Pause length="2"/><Dial><Conference beep="false">room</Conference></Dial>"#
        ),
    );
    let bob = w.dial_out("bob", "/bob", FarEnd::answers());
    let alice = w.dial_out(
        "alice",
        "/alice",
        FarEnd::answers_after(ms(1000)).talks(ALICE_HZ),
    );
    w.run_until(ms(8000));

    let answered = ms(1000);
    let say = w.tts.length(greeting);
    assert_eq!(say, ms(2000));
    let joined = answered + say + ms(2000);
    let alice_sid = w.call(alice).sid().clone();
    let room = w.conference("room");
    let alice_joined = room.first_event(|e| matches!(e, RoomEvent::Joined(s) if *s == alice_sid));
    assert_eq!(alice_joined, Some(joined));
    assert_eq!(room.first_event(|e| *e == RoomEvent::Started), Some(joined));
    // Alice heard her greeting on her own mixer from the tick after it started, to its end,
    // and then two seconds of silence.
    assert_eq!(
        w.call(alice).heard_spans(SPEECH_HZ),
        vec![(answered + TICK, answered + say)]
    );
    // Bob waited in silence (waitUrl="") and hears Alice from the tick after she joined.
    assert_eq!(
        w.call(bob).heard_spans(ALICE_HZ),
        vec![(joined + TICK, ms(8000))]
    );
}

/// `<Gather numDigits=2>` with a nested `<Say>`: the first digit stops the prompt (StopMedia,
/// silence from the next tick), the second submits `Digits` to the action at once, and the
/// action's document runs.
#[test]
fn gather_digits_barge_in_and_submit() {
    let mut w = World::new();
    let prompt = "Press two digits now please";
    w.web.serve_twiml(
        "/menu",
        &format!(
            r#"<Gather timeout="3" numDigits="2" action="/g"><Say>{prompt}</Say></Gather><Say>No input</Say>"#
        ),
    );
    w.web.serve_twiml("/g", "<Say>Thanks</Say>");
    let caller = w.dial_out("carol", "/menu", FarEnd::answers().presses(ms(1000), "42"));
    w.run_to_end();

    let c = w.call(caller);
    assert!(
        w.tts.length(prompt) > ms(1000),
        "the digits come during the prompt"
    );
    assert_eq!(c.first_action(|a| *a == Action::StopMedia), Some(ms(1000)));
    let g = w.web.requests_to("/g");
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].at, ms(1100));
    assert_eq!(g[0].param("Digits"), Some("42"));
    assert_eq!(g[0].param("CallStatus"), Some("in-progress"));
    let thanks_end = ms(1100) + w.tts.length("Thanks");
    assert_eq!(
        c.heard_spans(SPEECH_HZ),
        vec![(TICK, ms(1000)), (ms(1100) + TICK, thanks_end)]
    );
    assert!(c.first_action(|a| says(a, "No input")).is_none());
    assert_eq!(c.statuses.last().map(|s| s.0), Some(thanks_end));
}

/// `<Gather timeout=3>` without input: the next verb starts exactly 3 s after the prompt ends,
/// and the action is not requested.
#[test]
fn gather_without_digits_goes_on_after_timeout() {
    let mut w = World::new();
    let prompt = "Press two digits now please";
    w.web.serve_twiml(
        "/menu",
        &format!(
            r#"<Gather timeout="3" numDigits="2" action="/g"><Say>{prompt}</Say></Gather><Say>No input</Say>"#
        ),
    );
    let caller = w.dial_out("carol", "/menu", FarEnd::answers());
    w.run_to_end();

    let c = w.call(caller);
    let next = w.tts.length(prompt) + ms(3000);
    assert_eq!(c.first_action(|a| says(a, "No input")), Some(next));
    assert!(w.web.requests_to("/g").is_empty());
    let end = next + w.tts.length("No input");
    assert_eq!(c.status_log().last(), Some(&(end, "completed")));
}

/// `finishOnKey` `#` (the default) submits at once, without the key in `Digits`.
#[test]
fn gather_finish_on_key_submits() {
    let mut w = World::new();
    w.web.serve_twiml(
        "/code",
        r#"<Gather timeout="3" action="/g"><Say>Enter your code</Say></Gather>"#,
    );
    w.web.serve_twiml("/g", "<Hangup/>");
    w.dial_out("dan", "/code", FarEnd::answers().presses(ms(3000), "12#"));
    w.run_to_end();

    let g = w.web.requests_to("/g");
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].at, ms(3000) + 2 * flow::DIGIT_GAP);
    assert_eq!(g[0].param("Digits"), Some("12"));
    assert_eq!(g[0].param("FinishedOnKey"), Some("#"));
}

/// After a digit the caller has `timeout` again: the gather submits 3 s after the last digit.
#[test]
fn gather_timeout_counts_from_the_last_digit() {
    let mut w = World::new();
    w.web.serve_twiml(
        "/code",
        r#"<Gather timeout="3" action="/g"><Say>Enter your code</Say></Gather>"#,
    );
    w.web.serve_twiml("/g", "<Hangup/>");
    w.dial_out("dan", "/code", FarEnd::answers().presses(ms(3000), "12"));
    w.run_to_end();

    let g = w.web.requests_to("/g");
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].at, ms(3100) + ms(3000));
    assert_eq!(g[0].param("Digits"), Some("12"));
}

/// `<Dial action=/after><Conference>` and a kick at 5 s: `/after` is requested right then with
/// `DialCallStatus=answered` (Twilio: "answered when calling a conference") and its document
/// runs; the verb after `<Dial>` never does.
#[test]
fn dial_action_is_requested_when_kicked() {
    let mut w = World::new();
    w.web.serve_twiml(
        "/alice",
        r#"<Dial action="/after"><Conference>room</Conference></Dial><Say>Never said</Say>"#,
    );
    w.web.serve_twiml("/after", "<Say>Goodbye</Say><Hangup/>");
    w.web
        .serve_twiml("/bob", "<Dial><Conference>room</Conference></Dial>");
    let alice = w.dial_out("alice", "/alice", FarEnd::answers());
    let bob = w.dial_out("bob", "/bob", FarEnd::answers().talks(BOB_HZ));
    w.kick_at(ms(5000), "room", alice);
    w.run_until(ms(8000));

    let kicked = ms(5000);
    let after = w.web.requests_to("/after");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].at, kicked);
    assert_eq!(after[0].param("DialCallStatus"), Some("answered"));
    assert_eq!(after[0].param("CallStatus"), Some("in-progress"));
    assert_eq!(
        after[0].param("DialCallSid"),
        None,
        "not sent after a conference"
    );
    let alice_sid = w.call(alice).sid().clone();
    let room = w.conference("room");
    let left = room.first_event(|e| *e == RoomEvent::Left(alice_sid.clone(), LeaveReason::Kicked));
    assert_eq!(left, Some(kicked));
    assert!(!room.room.is_completed(), "Bob is still in it");
    let a = w.call(alice);
    assert_eq!(a.heard_spans(BOB_HZ), vec![(TICK, kicked)]);
    let goodbye = kicked + w.tts.length("Goodbye");
    assert_eq!(a.heard_spans(PLAY_HZ), vec![]);
    assert_eq!(a.heard_spans(SPEECH_HZ), vec![(kicked + TICK, goodbye)]);
    assert!(a.first_action(|x| says(x, "Never said")).is_none());
    assert_eq!(a.status_log().last(), Some(&(goodbye, "completed")));
    assert!(!w.call(bob).call.status.is_final());
}

/// The caller hangs up in the conference: the `<Dial action>` is still requested (with the
/// call completed), and nothing of its answer runs.
#[test]
fn caller_hang_up_in_conference_still_requests_the_dial_action() {
    let mut w = World::new();
    w.web.serve_twiml(
        "/alice",
        r#"<Dial action="/after"><Conference>room</Conference></Dial>"#,
    );
    w.web.serve_twiml("/after", "<Say>Too late</Say>");
    let alice = w.dial_out("alice", "/alice", FarEnd::answers().hangs_up_at(ms(4000)));
    w.run_to_end();

    let after = w.web.requests_to("/after");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].at, ms(4000));
    assert_eq!(after[0].param("DialCallStatus"), Some("answered"));
    assert_eq!(after[0].param("CallStatus"), Some("completed"));
    let a = w.call(alice);
    assert!(a.first_action(|x| says(x, "Too late")).is_none());
    assert_eq!(a.status_log().last(), Some(&(ms(4000), "completed")));
    let room = w.conference("room");
    assert_eq!(
        room.room.conference().reason_ended,
        Some(EndReason::LastLeft)
    );
}

/// An empty `<Redirect/>` loop that plays nothing stops after the engine's bound with 12400,
/// the application-error message and a hang-up.
#[test]
fn redirect_loop_without_media_stops_at_the_bound() {
    let mut w = World::new();
    w.web.serve_twiml("/loop", "<Redirect/>");
    let caller = w.dial_out("erin", "/loop", FarEnd::answers());
    w.run_to_end();

    // The first request, then one per redirect allowed.
    let fetched = w.web.requests_to("/loop");
    assert_eq!(fetched.len(), 1 + MAX_DOCUMENTS_WITHOUT_MEDIA as usize);
    assert!(fetched.iter().all(|r| r.at == ms(0)));
    let c = w.call(caller);
    let warned =
        c.first_action(|a| matches!(a, Action::Warning(w) if w.code == code::INTERNAL_FAILURE));
    assert_eq!(warned, Some(ms(0)));
    assert_eq!(
        c.first_action(|a| says(a, APPLICATION_ERROR_MESSAGE)),
        Some(ms(0))
    );
    let end = w.tts.length(APPLICATION_ERROR_MESSAGE);
    assert_eq!(c.status_log().last(), Some(&(end, "completed")));
}

/// A `<Dial>` without action goes on with the next verb when the caller is kicked; the
/// conference completes when its last participant hangs up, and the next `<Conference>` of the
/// same name opens a new conference.
#[test]
fn conference_completes_when_the_last_leaves() {
    let mut w = World::new();
    w.web.serve_twiml(
        "/alice",
        "<Dial><Conference>room</Conference></Dial><Say>After the conference</Say>",
    );
    w.web
        .serve_twiml("/bob", "<Dial><Conference>room</Conference></Dial>");
    let alice = w.dial_out("alice", "/alice", FarEnd::answers());
    let bob = w.dial_out("bob", "/bob", FarEnd::answers().hangs_up_at(ms(5000)));
    w.kick_at(ms(3000), "room", alice);
    w.run_until(ms(6000));

    let a = w.call(alice);
    assert_eq!(
        a.first_action(|x| says(x, "After the conference")),
        Some(ms(3000))
    );
    let said = ms(3000) + w.tts.length("After the conference");
    assert_eq!(a.status_log().last(), Some(&(said, "completed")));
    let room = w.conference("room");
    assert!(room.room.is_completed());
    assert_eq!(
        room.first_event(|e| *e == RoomEvent::Ended(EndReason::LastLeft)),
        Some(ms(5000))
    );
    let bob_sid = w.call(bob).sid().clone();
    assert_eq!(
        room.room.conference().call_sid_ending.as_ref(),
        Some(&bob_sid)
    );
    let first_sid = room.room.conference().sid.clone();

    w.dial_out("carl", "/bob", FarEnd::answers());
    w.run_until(ms(7000));
    let rooms = w.conferences("room");
    assert_eq!(rooms.len(), 2);
    assert_ne!(rooms[1].room.conference().sid, first_sid);
    assert!(!rooms[1].room.is_completed());
}

/// `queued → ringing → in-progress → completed` with their times, and the duration from the
/// answer; the voice URL is requested on answer with the call's parameters.
#[test]
fn call_status_sequence_and_duration() {
    let mut w = World::new();
    w.web.serve_twiml("/count", "<Say>one two three four</Say>");
    let caller = w.dial_out("fay", "/count", FarEnd::answers_after(ms(1500)));
    w.run_to_end();

    let c = w.call(caller);
    let end = ms(1500) + w.tts.length("one two three four");
    assert_eq!(
        c.status_log(),
        vec![
            (ms(0), "queued"),
            (ms(0), "ringing"),
            (ms(1500), "in-progress"),
            (end, "completed"),
        ]
    );
    assert_eq!(c.call.duration_secs(), Some(2));
    let start = c.call.date_created;
    assert_eq!(c.call.start_time, Some(start));
    assert_eq!(c.call.answer_time, Some(start.plus_millis(1500)));
    assert_eq!(c.call.end_time, Some(start.plus_millis(3500)));
    let voice = w.web.requests_to("/count");
    assert_eq!(voice.len(), 1);
    assert_eq!(voice[0].at, ms(1500));
    assert_eq!(voice[0].param("CallStatus"), Some("in-progress"));
    assert_eq!(voice[0].param("Direction"), Some("outbound-api"));
    assert_eq!(voice[0].param("CallSid"), Some(c.sid().as_str()));
}

/// A call nobody answers ends `no-answer` at its 60 s timeout, a busy one `busy`; neither asks
/// for its TwiML.
#[test]
fn unanswered_calls_never_fetch_their_twiml() {
    let mut w = World::new();
    w.web.serve_twiml("/never", "<Say>Unheard</Say>");
    let silent = w.dial_out("gus", "/never", FarEnd::never_answers());
    let busy = w.dial_out("hal", "/never", FarEnd::busy_after(ms(2000)));
    w.run_to_end();

    assert_eq!(
        w.call(silent).status_log(),
        vec![
            (ms(0), "queued"),
            (ms(0), "ringing"),
            (ms(60_000), "no-answer")
        ]
    );
    assert_eq!(
        w.call(busy).status_log(),
        vec![(ms(0), "queued"), (ms(0), "ringing"), (ms(2000), "busy")]
    );
    assert_eq!(w.call(silent).call.duration_secs(), Some(0));
    assert!(w.web.requests().is_empty());
}

/// `<Play loop="2">` of a 1 s file plays it twice back to back; the next verb starts when the
/// second loop ends.
#[test]
fn play_loops_back_to_back() {
    let mut w = World::new();
    w.web.serve("/tone.wav", Page::Audio(ms(1000)));
    w.web
        .serve_twiml("/play", r#"<Play loop="2">/tone.wav</Play><Say>Done</Say>"#);
    let caller = w.dial_out("ida", "/play", FarEnd::answers());
    w.run_to_end();

    let c = w.call(caller);
    assert_eq!(c.heard_spans(PLAY_HZ), vec![(TICK, ms(2000))]);
    assert_eq!(c.first_action(|a| says(a, "Done")), Some(ms(2000)));
    let downloads = w.web.requests().iter().filter(|r| r.media).count();
    assert_eq!(downloads, 1, "the audio is fetched once for all loops");
}

/// An inbound call whose document starts with `<Pause>` is picked up only after the pause
/// (Twilio: as first verb it "waits before picking up"); the voice URL is requested while
/// the call rings.
#[test]
fn inbound_pause_waits_before_picking_up() {
    let mut w = World::new();
    w.web
        .serve_twiml("/in", r#"<Pause length="3"/><Say>Hello</Say>"#);
    let caller = w.ring_in("jay", "/in", FarEnd::answers());
    w.run_to_end();

    let voice = w.web.requests_to("/in");
    assert_eq!(voice.len(), 1);
    assert_eq!(voice[0].param("CallStatus"), Some("ringing"));
    assert_eq!(voice[0].param("Direction"), Some("inbound"));
    let said = ms(3000) + w.tts.length("Hello");
    assert_eq!(
        w.call(caller).status_log(),
        vec![
            (ms(0), "queued"),
            (ms(0), "ringing"),
            (ms(3000), "in-progress"),
            (said, "completed"),
        ]
    );
}

/// `<Reject reason="busy">` as the first verb refuses the inbound call unanswered: it ends
/// `busy` (Twilio: "first verb → call not answered, ends busy or no-answer").
#[test]
fn inbound_reject_busy_ends_busy() {
    let mut w = World::new();
    w.web.serve_twiml("/in", r#"<Reject reason="busy"/>"#);
    let caller = w.ring_in("kim", "/in", FarEnd::answers());
    w.run_to_end();

    assert_eq!(
        w.call(caller).status_log(),
        vec![(ms(0), "queued"), (ms(0), "ringing"), (ms(0), "busy")]
    );
}
