//! Exact parameter lists per callback, driven through a real [`Room`] and [`Call`].

use super::*;
use crate::params::Params;
use crate::request::{ConferenceUpdate, CreateParticipant, ParticipantUpdate};
use crate::room::Room;
use crate::sid::{AccountSid, ConferenceSid, SidStyle};
use crate::HttpMethod;

/// Tue, 14 Nov 2023 22:13:20 +0000.
const T0: Timestamp = Timestamp(1_700_000_000_000);
const WHEN: &str = "Tue, 14 Nov 2023 22:13:20 +0000";
const URL: &str = "https://app.example/conference#rc=2";
const EVERY_EVENT: &str = "start end join leave mute hold modify speaker announcement";

fn params(pairs: &[(&str, &str)]) -> Params {
    Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn create(extra: &[(&str, &str)]) -> CreateParticipant {
    let mut pairs = vec![("From", "+15550100"), ("To", "sim:x")];
    pairs.extend_from_slice(extra);
    CreateParticipant::parse(&params(&pairs)).expect("valid create")
}

fn call_sid(n: u128) -> CallSid {
    CallSid::mint(SidStyle::Twilio, n)
}

/// A conference opened by a participant created with `settings` (its conference settings win).
fn conference(settings: &[(&str, &str)]) -> Conference {
    Conference::open(
        ConferenceSid::mint(SidStyle::Twilio, 7),
        AccountSid::mint(SidStyle::Twilio, 9),
        "standup",
        &create(settings).conference,
        T0,
    )
}

fn room(settings: &[(&str, &str)]) -> Room {
    Room::new(conference(settings), vec![])
}

fn subscribed_room(events: &str) -> Room {
    room(&[
        ("ConferenceStatusCallback", URL),
        ("ConferenceStatusCallbackEvent", events),
    ])
}

/// Turns outcomes into callbacks with one counter and numbered tokens, as an actor would.
struct Stream {
    sequence: u32,
    tokens: u32,
}

impl Stream {
    fn conference() -> Stream {
        Stream {
            sequence: FIRST_CONFERENCE_SEQUENCE,
            tokens: 0,
        }
    }

    fn of(&mut self, room: &Room, outcome: &Outcome) -> Vec<Callback> {
        let tokens = &mut self.tokens;
        let mut token = || {
            *tokens += 1;
            format!("token-{tokens}")
        };
        conference_callbacks(
            room.conference(),
            room.participants(),
            outcome,
            &mut self.sequence,
            T0,
            &mut token,
        )
    }
}

fn join(room: &mut Room, n: u128, extra: &[(&str, &str)]) -> Outcome {
    let _ = room
        .add_participant(T0, call_sid(n), &create(extra))
        .expect("added");
    room.call_progress(T0, &call_sid(n), CallProgress::Answered)
}

fn update(room: &mut Room, n: u128, pairs: &[(&str, &str)]) -> Outcome {
    let update = ParticipantUpdate::parse(&params(pairs)).expect("valid update");
    room.update_participant(T0, call_sid(n).as_str(), &update)
        .expect("updated")
}

fn events(callbacks: &[Callback]) -> Vec<&str> {
    callbacks.iter().map(|c| c.event.as_str()).collect()
}

fn pairs(callback: &Callback) -> Vec<(&str, &str)> {
    callback
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The parameters every conference callback starts with.
fn common<'a>(room: &'a Room, sequence: &'a str, event: &'a str) -> Vec<(&'a str, &'a str)> {
    let c = room.conference();
    vec![
        ("ConferenceSid", c.sid.as_str()),
        ("FriendlyName", "standup"),
        ("AccountSid", c.account_sid.as_str()),
        ("SequenceNumber", sequence),
        ("Timestamp", WHEN),
        ("StatusCallbackEvent", event),
    ]
}

/// The participant block, in the order sent: CallSid, Muted, Hold, Coaching,
/// EndConferenceOnExit, StartConferenceOnEnter (ParticipantLabel follows when set).
fn block<'a>(sid: &'a CallSid, flags: [&'a str; 5]) -> Vec<(&'a str, &'a str)> {
    let names = [
        "Muted",
        "Hold",
        "Coaching",
        "EndConferenceOnExit",
        "StartConferenceOnEnter",
    ];
    let mut v = vec![("CallSid", sid.as_str())];
    v.extend(names.into_iter().zip(flags));
    v
}

fn concat<'a>(parts: &[Vec<(&'a str, &'a str)>]) -> Vec<(&'a str, &'a str)> {
    parts.concat()
}

/// A scripted conference with every event subscribed: the exact callbacks, in order.
#[test]
fn scripted_conference_every_parameter() {
    let mut room = subscribed_room(EVERY_EVENT);
    let mut stream = Stream::conference();
    let (one, two) = (call_sid(1), call_sid(2));
    let conf = room.conference().clone();

    let first = join(&mut room, 1, &[("Label", "customer")]);
    let cbs = stream.of(&room, &first);
    assert_eq!(events(&cbs), ["participant-join"]);
    let f = ["false", "false", "false", "false", "true"];
    let mut want = concat(&[
        common(&room, "1", "participant-join"),
        block(&one, f),
        vec![("ParticipantLabel", "customer")],
    ]);
    assert_eq!(pairs(&cbs[0]), want);
    assert_eq!(cbs[0].source, CallbackSource::Conference(conf.sid.clone()));
    assert_eq!(cbs[0].call_sid.as_ref(), Some(&one));
    assert_eq!(cbs[0].account_sid, conf.account_sid);
    assert_eq!(
        (cbs[0].url.as_str(), cbs[0].method),
        (URL, HttpMethod::Post)
    );
    assert_eq!((cbs[0].sequence, cbs[0].created), (1, T0));
    assert_eq!(cbs[0].idempotency_token, "token-1");

    let second = join(&mut room, 2, &[("EndConferenceOnExit", "true")]);
    let cbs = stream.of(&room, &second);
    assert_eq!(events(&cbs), ["participant-join", "conference-start"]);
    let two_flags = ["false", "false", "false", "true", "true"];
    want = concat(&[
        common(&room, "2", "participant-join"),
        block(&two, two_flags),
    ]);
    assert_eq!(pairs(&cbs[0]), want);
    assert_eq!(pairs(&cbs[1]), common(&room, "3", "conference-start"));
    assert_eq!(cbs[1].call_sid, None);

    type Step<'a> = (&'a [(&'a str, &'a str)], &'a str, [&'a str; 5]);
    let script: [Step<'_>; 5] = [
        (
            &[("Muted", "true")],
            "participant-mute",
            ["true", "false", "false", "false", "true"],
        ),
        (&[("Muted", "false")], "participant-unmute", f),
        (
            &[("Hold", "true")],
            "participant-hold",
            ["false", "true", "false", "false", "true"],
        ),
        (&[("Hold", "false")], "participant-unhold", f),
        (
            &[("EndConferenceOnExit", "true")],
            "participant-modify",
            ["false", "false", "false", "true", "true"],
        ),
    ];
    for (n, (change, event, flags)) in script.into_iter().enumerate() {
        let outcome = update(&mut room, 1, change);
        let cbs = stream.of(&room, &outcome);
        let sequence = (4 + n).to_string();
        want = concat(&[
            common(&room, &sequence, event),
            block(&one, flags),
            vec![("ParticipantLabel", "customer")],
        ]);
        assert_eq!(cbs.len(), 1, "{event}");
        assert_eq!(pairs(&cbs[0]), want, "{event}");
    }

    // The customer (now EndConferenceOnExit) hangs up: both leave, the conference ends.
    let left = room.call_progress(T0, &one, CallProgress::HungUp);
    let cbs = stream.of(&room, &left);
    assert_eq!(
        events(&cbs),
        ["participant-leave", "participant-leave", "conference-end"]
    );
    let one_flags = ["false", "false", "false", "true", "true"];
    want = concat(&[
        common(&room, "9", "participant-leave"),
        block(&one, one_flags),
        vec![
            ("ParticipantLabel", "customer"),
            ("ParticipantCallStatus", "completed"),
            ("ReasonParticipantLeft", "participant_hung_up"),
        ],
    ]);
    assert_eq!(pairs(&cbs[0]), want);
    want = concat(&[
        common(&room, "10", "participant-leave"),
        block(&two, two_flags),
        vec![
            ("ParticipantCallStatus", "completed"),
            ("ReasonParticipantLeft", "moderator_ended_conference"),
        ],
    ]);
    assert_eq!(pairs(&cbs[1]), want);
    let reason = format!("Participant {one} with endConferenceOnExit left the conference");
    want = concat(&[
        common(&room, "11", "conference-end"),
        vec![
            ("CallSidEndingConference", one.as_str()),
            ("ParticipantLabelEndingConference", "customer"),
            (
                "ReasonConferenceEnded",
                "participant-with-end-conference-on-exit-left",
            ),
            ("Reason", &reason),
        ],
    ]);
    assert_eq!(pairs(&cbs[2]), want);
    assert_eq!(stream.sequence, 12);
    assert_eq!(stream.tokens, 11, "one fresh token per callback");
}

/// Each way of leaving, with its `ParticipantCallStatus` and `ReasonParticipantLeft`.
#[test]
fn leave_reasons_and_call_statuses() {
    let cases: [(LeaveReason, &str, &str); 9] = [
        (LeaveReason::HungUp, "completed", "participant_hung_up"),
        (
            LeaveReason::Kicked,
            "completed",
            "participant_updated_via_api",
        ),
        (
            LeaveReason::UpdatedViaApi,
            "completed",
            "participant_updated_via_api",
        ),
        (
            LeaveReason::ConferenceEndedViaApi,
            "completed",
            "conference_ended_via_api",
        ),
        (
            LeaveReason::ModeratorEnded,
            "completed",
            "moderator_ended_conference",
        ),
        (
            LeaveReason::AddFailed(CallProgress::Busy),
            "busy",
            "participant_add_failed",
        ),
        (
            LeaveReason::AddFailed(CallProgress::NoAnswer),
            "no-answer",
            "participant_add_failed",
        ),
        (
            LeaveReason::AddFailed(CallProgress::Failed),
            "failed",
            "participant_add_failed",
        ),
        (LeaveReason::Canceled, "canceled", "participant_add_failed"),
    ];
    for (reason, status, text) in cases {
        assert_eq!(
            participant_call_status(reason).as_str(),
            status,
            "{reason:?}"
        );
        assert_eq!(reason_participant_left(reason), text, "{reason:?}");
    }
}

/// A busy participant that never got in still gets its `participant-leave`; the room goes on.
#[test]
fn a_failed_add_is_a_leave() {
    let mut room = subscribed_room("join leave");
    let mut stream = Stream::conference();
    let _ = join(&mut room, 1, &[]);
    let _ = room
        .add_participant(T0, call_sid(2), &create(&[]))
        .expect("added");
    let outcome = room.call_progress(T0, &call_sid(2), CallProgress::Busy);
    let cbs = stream.of(&room, &outcome);
    assert_eq!(events(&cbs), ["participant-leave"]);
    let tail = &cbs[0].params[12..];
    let tail: Vec<(&str, &str)> = tail.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        tail,
        [
            ("ParticipantCallStatus", "busy"),
            ("ReasonParticipantLeft", "participant_add_failed")
        ]
    );
}

/// The conference-end parameters for each way a conference ends.
#[test]
fn end_reasons() {
    // Ended through the API: nobody ended it, so no CallSidEndingConference.
    let mut room = subscribed_room("end");
    let mut stream = Stream::conference();
    let _ = join(&mut room, 1, &[]);
    let end = ConferenceUpdate::parse(&params(&[("Status", "completed")])).expect("valid");
    let outcome = room.update_conference(T0, &end).expect("ended");
    let cbs = stream.of(&room, &outcome);
    assert_eq!(
        events(&cbs),
        ["conference-end"],
        "leaves are not subscribed"
    );
    let want = concat(&[
        common(&room, "1", "conference-end"),
        vec![
            ("ReasonConferenceEnded", "conference-ended-via-api"),
            ("Reason", "Conference ended via API"),
        ],
    ]);
    assert_eq!(pairs(&cbs[0]), want);

    // The last participant, unlabelled, is removed: its SID, no label.
    let mut room = subscribed_room("end");
    let _ = join(&mut room, 1, &[]);
    let outcome = room
        .remove_participant(T0, call_sid(1).as_str())
        .expect("removed");
    let cbs = Stream::conference().of(&room, &outcome);
    let one = call_sid(1);
    let want = concat(&[
        common(&room, "1", "conference-end"),
        vec![
            ("CallSidEndingConference", one.as_str()),
            ("ReasonConferenceEnded", "last-participant-kicked"),
            ("Reason", "The last participant was removed via API"),
        ],
    ]);
    assert_eq!(pairs(&cbs[0]), want);

    // A restart: the operator's detail is the Reason.
    let mut room = subscribed_room("end");
    let _ = join(&mut room, 1, &[]);
    let outcome = room.end_after_restart(T0);
    let cbs = Stream::conference().of(&room, &outcome);
    assert_eq!(
        cbs[0].params.last().map(|(k, v)| (k.as_str(), v.as_str())),
        Some(("Reason", "confab restarted while the conference was live"))
    );
}

/// Only subscribed events are sent, and they alone take sequence numbers.
#[test]
fn subscriptions_filter_and_number() {
    let table: [(&str, &[&str]); 4] = [
        ("join", &["participant-join", "participant-join"]),
        ("start", &["conference-start"]),
        (
            "MUTE Join",
            &["participant-join", "participant-join", "participant-mute"],
        ),
        ("hold speaker", &[]),
    ];
    for (subscription, want) in table {
        let mut room = subscribed_room(subscription);
        let mut stream = Stream::conference();
        let mut got = Vec::new();
        for outcome in [
            join(&mut room, 1, &[]),
            join(&mut room, 2, &[]),
            update(&mut room, 1, &[("Muted", "true")]),
        ] {
            got.extend(stream.of(&room, &outcome));
        }
        assert_eq!(events(&got), want, "{subscription}");
        let numbers: Vec<u32> = got.iter().map(|c| c.sequence).collect();
        let expected: Vec<u32> = (1..=want.len() as u32).collect();
        assert_eq!(numbers, expected, "{subscription}: consecutive from 1");
    }
}

/// A URL without events means `start end`; no URL means nothing at all.
#[test]
fn defaults_and_no_url() {
    let mut opened = conference(&[("ConferenceStatusCallback", URL)]);
    assert_eq!(
        opened.status_callback_events,
        ["start", "end"],
        "REST default"
    );
    opened.status_callback_events.clear();
    let mut room = Room::new(opened, vec![]);
    let mut stream = Stream::conference();
    let mut got = Vec::new();
    for outcome in [join(&mut room, 1, &[]), join(&mut room, 2, &[])] {
        got.extend(stream.of(&room, &outcome));
    }
    let outcome = room
        .remove_participant(T0, call_sid(1).as_str())
        .expect("ok");
    got.extend(stream.of(&room, &outcome));
    let outcome = room
        .remove_participant(T0, call_sid(2).as_str())
        .expect("ok");
    got.extend(stream.of(&room, &outcome));
    assert_eq!(events(&got), ["conference-start", "conference-end"]);

    let mut room = Room::new(
        conference(&[("ConferenceStatusCallbackEvent", EVERY_EVENT)]),
        vec![],
    );
    let mut stream = Stream::conference();
    for outcome in [join(&mut room, 1, &[]), join(&mut room, 2, &[])] {
        assert_eq!(stream.of(&room, &outcome), vec![], "no URL");
    }
    let p = &room.participants()[0];
    let mut token = String::new;
    let mut n = 1;
    let c = room.conference();
    assert_eq!(speech_callback(c, p, true, &mut n, T0, &mut token), None);
    assert_eq!(n, 1, "nothing sent takes no number");
}

/// Speech start and stop carry the participant block, and only with `speaker`.
#[test]
fn speech_events() {
    let mut room = subscribed_room("speaker");
    let _ = join(&mut room, 1, &[("Label", "agent"), ("Muted", "true")]);
    let p = &room.participants()[0];
    let c = room.conference();
    let mut n = FIRST_CONFERENCE_SEQUENCE;
    let mut token = || "t".to_owned();
    let one = call_sid(1);
    let flags = ["true", "false", "false", "false", "true"];
    for (speaking, event, sequence) in [
        (true, "participant-speech-start", "1"),
        (false, "participant-speech-stop", "2"),
    ] {
        let cb = speech_callback(c, p, speaking, &mut n, T0, &mut token).expect("subscribed");
        let want = concat(&[
            common(&room, sequence, event),
            block(&one, flags),
            vec![("ParticipantLabel", "agent")],
        ]);
        assert_eq!(pairs(&cb), want);
        assert_eq!(
            (cb.event.as_str(), cb.call_sid.as_ref()),
            (event, Some(&one))
        );
    }
    let mut room = subscribed_room("join");
    let _ = join(&mut room, 1, &[]);
    let p = &room.participants()[0];
    assert_eq!(
        speech_callback(room.conference(), p, true, &mut n, T0, &mut token),
        None
    );
}

/// Conference and participant announcements, ended and failed, present and gone.
#[test]
fn announcement_events() {
    let mut room = subscribed_room("announcement");
    let _ = join(&mut room, 1, &[]);
    let one = call_sid(1);
    let p = room.participants()[0].clone();
    let c = room.conference();
    let url = "https://app.example/hello.mp3";
    let flags = ["false", "false", "false", "false", "true"];
    let mut n = FIRST_CONFERENCE_SEQUENCE;
    let mut token = || "t".to_owned();
    let mut announce = |audience, failure, n: &mut u32| {
        let a = Announcement {
            audience,
            url,
            failure,
        };
        announcement_callback(c, &a, n, T0, &mut token).expect("subscribed")
    };

    let cb = announce(Audience::Conference, None, &mut n);
    let want = concat(&[
        common(&room, "1", "announcement-end"),
        vec![("AnnounceUrl", url)],
    ]);
    assert_eq!((pairs(&cb), cb.call_sid.clone()), (want, None));

    let present = Audience::Participant {
        call_sid: &one,
        present: Some(&p),
    };
    let cb = announce(present, Some("the media could not be fetched"), &mut n);
    let want = concat(&[
        common(&room, "2", "announcement-fail"),
        block(&one, flags),
        vec![
            ("AnnounceUrl", url),
            ("ReasonAnnouncementFailed", "the media could not be fetched"),
        ],
    ]);
    assert_eq!(pairs(&cb), want);
    assert_eq!(cb.call_sid.as_ref(), Some(&one));

    let gone = Audience::Participant {
        call_sid: &one,
        present: None,
    };
    let cb = announce(gone, None, &mut n);
    let want = concat(&[
        common(&room, "3", "announcement-end"),
        vec![("AnnounceUrl", url)],
    ]);
    assert_eq!(pairs(&cb), want, "no participant block once it left");
    assert_eq!(cb.call_sid.as_ref(), Some(&one), "still about that call");
}

#[test]
fn wire_names() {
    use ConferenceCallbackEvent as E;
    let all = [
        (E::ConferenceStart, "conference-start", "start"),
        (E::ConferenceEnd, "conference-end", "end"),
        (E::ParticipantJoin, "participant-join", "join"),
        (E::ParticipantLeave, "participant-leave", "leave"),
        (E::ParticipantMute, "participant-mute", "mute"),
        (E::ParticipantUnmute, "participant-unmute", "mute"),
        (E::ParticipantHold, "participant-hold", "hold"),
        (E::ParticipantUnhold, "participant-unhold", "hold"),
        (E::ParticipantModify, "participant-modify", "modify"),
        (
            E::ParticipantSpeechStart,
            "participant-speech-start",
            "speaker",
        ),
        (
            E::ParticipantSpeechStop,
            "participant-speech-stop",
            "speaker",
        ),
        (E::AnnouncementEnd, "announcement-end", "announcement"),
        (E::AnnouncementFail, "announcement-fail", "announcement"),
    ];
    for (event, name, subscription) in all {
        assert_eq!((event.as_str(), event.subscription()), (name, subscription));
    }
}
