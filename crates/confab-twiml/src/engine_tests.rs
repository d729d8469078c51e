//! Rule table of the interpreter, on a virtual clock: each test drives one call and asserts the
//! exact sequence of actions.

use std::time::{Duration, Instant};

use confab_core::HttpMethod;

use crate::action::{
    Action, DialOutcome, Event, Fallback, Fetched, Source, APPLICATION_ERROR_MESSAGE,
};
use crate::attribute::WaitUrl;
use crate::engine::{Interpreter, MAX_DOCUMENTS_WITHOUT_MEDIA};
use crate::error::Warning;
use crate::verb::{RejectReason, SaySegment, LOOP_CAP};

const APP: &str = "https://app.test/voice/start.xml";

/// One call on a virtual clock.
struct Call {
    engine: Interpreter,
    now: Instant,
}

impl Call {
    fn url(url: &str) -> Call {
        Call::new(
            Source::Url {
                url: url.into(),
                method: HttpMethod::Post,
            },
            None,
        )
    }

    fn twiml(body: &str) -> Call {
        Call::new(Source::Twiml(format!("<Response>{body}</Response>")), None)
    }

    fn new(source: Source, fallback: Option<Fallback>) -> Call {
        Call {
            engine: Interpreter::new(source, fallback),
            now: Instant::now(),
        }
    }

    /// Drains the actions; warnings keep only their code.
    fn drain(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some(action) = self.engine.poll_action(self.now) {
            out.push(match action {
                Action::Warning(w) => Action::Warning(Warning::new(w.code, "")),
                other => other,
            });
            assert!(out.len() < 100_000, "unbounded actions");
        }
        out
    }

    fn event(&mut self, event: Event) -> Vec<Action> {
        self.engine.handle_event(self.now, event);
        self.drain()
    }

    fn twiml_at(&mut self, url: &str, body: &str) -> Vec<Action> {
        let body = Fetched::Twiml(format!("<Response>{body}</Response>"));
        self.event(Event::DocumentFetched {
            url: url.into(),
            body,
        })
    }

    /// Moves the clock on by `ms`, firing the engine's timer when due.
    fn wait(&mut self, ms: u64) -> Vec<Action> {
        self.now += Duration::from_millis(ms);
        if self.engine.poll_timeout().is_some_and(|t| t <= self.now) {
            self.engine.handle_timeout(self.now);
        }
        self.drain()
    }

    fn digits(&mut self, digits: &str) -> Vec<Action> {
        digits
            .chars()
            .flat_map(|d| self.event(Event::Digit(d)))
            .collect()
    }
}

fn fetch(url: &str, method: HttpMethod, params: &[(&str, &str)]) -> Action {
    Action::Fetch {
        url: url.into(),
        method,
        params: params
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    }
}

fn post(url: &str, params: &[(&str, &str)]) -> Action {
    fetch(url, HttpMethod::Post, params)
}

fn say(text: &str) -> Action {
    Action::Say {
        segments: vec![SaySegment::Text(text.into())],
        voice: "man".into(),
        language: "en-US".into(),
        loop_count: 1,
    }
}

fn play(url: &str) -> Action {
    Action::Play {
        url: url.into(),
        loop_count: 1,
    }
}

fn warn(code: u32) -> Action {
    Action::Warning(Warning::new(code, ""))
}

fn error_message() -> Vec<Action> {
    vec![Action::Answer, say(APPLICATION_ERROR_MESSAGE)]
}

#[test]
fn url_source_fetches_then_runs_verbs_in_order() {
    let mut call = Call::url(APP);
    assert_eq!(call.drain(), vec![post(APP, &[])]);
    assert_eq!(call.drain(), vec![]);
    let actions = call.twiml_at(APP, "<Say>one</Say><Play>two.mp3</Play>");
    assert_eq!(actions, vec![Action::Answer, say("one")]);
    assert_eq!(
        call.event(Event::VerbFinished),
        vec![play("https://app.test/voice/two.mp3")]
    );
    assert_eq!(call.event(Event::VerbFinished), vec![Action::Finished]);
    assert!(call.engine.is_finished() && call.engine.answered());
    assert_eq!(call.event(Event::VerbFinished), vec![]);
}

#[test]
fn twiml_source_runs_at_once_and_empty_document_finishes_unanswered() {
    let mut call = Call::twiml("<Say>hi</Say>");
    assert_eq!(call.drain(), vec![Action::Answer, say("hi")]);
    let mut call = Call::twiml("");
    assert_eq!(call.drain(), vec![Action::Finished]);
    assert!(!call.engine.answered());
}

#[test]
fn pause_waits_on_the_timer_before_answering() {
    let mut call = Call::twiml("<Pause length=\"2\"/><Say>hi</Say>");
    assert_eq!(call.drain(), vec![]);
    assert_eq!(
        call.engine.poll_timeout(),
        Some(call.now + Duration::from_secs(2))
    );
    assert_eq!(call.wait(1999), vec![]);
    call.engine.handle_timeout(call.now);
    assert_eq!(call.drain(), vec![]);
    assert_eq!(call.wait(1), vec![Action::Answer, say("hi")]);
    assert_eq!(call.engine.poll_timeout(), None);
}

#[test]
fn reject_and_hangup() {
    let table: &[(&str, &[Action])] = &[
        (
            "<Reject reason=\"busy\"/><Say>x</Say>",
            &[Action::Reject(RejectReason::Busy)],
        ),
        ("<Reject/>", &[Action::Reject(RejectReason::Rejected)]),
        ("<Pause/>", &[]),
        ("<Hangup/><Say>x</Say>", &[Action::Answer, Action::Hangup]),
    ];
    for (body, want) in table {
        assert_eq!(Call::twiml(body).drain(), *want, "{body}");
    }
    let mut call = Call::twiml("<Say>x</Say><Reject/>");
    call.drain();
    assert_eq!(call.event(Event::VerbFinished), vec![Action::Hangup]);
    let mut call = Call::twiml("<Pause/><Reject/>");
    assert_eq!(call.drain(), vec![]);
    assert_eq!(
        call.wait(1000),
        vec![Action::Reject(RejectReason::Rejected)]
    );
}

#[test]
fn play_loop_zero_and_digits() {
    let mut call = Call::url(APP);
    call.drain();
    let actions = call.twiml_at(
        APP,
        "<Play loop=\"0\">/a.wav#ct=audio/wav</Play><Play digits=\"1w#\"/>",
    );
    let looped = Action::Play {
        url: "https://app.test/a.wav#ct=audio/wav".into(),
        loop_count: LOOP_CAP,
    };
    assert_eq!(actions, vec![Action::Answer, looped]);
    assert_eq!(
        call.event(Event::VerbFinished),
        vec![Action::SendDigits("1w#".into())]
    );
    assert_eq!(call.event(Event::VerbFinished), vec![Action::Finished]);
}

#[test]
fn document_warnings_come_first() {
    let actions = Call::twiml("<Foo/><Say loop=\"x\">hi</Say>").drain();
    assert_eq!(
        actions,
        vec![warn(12200), warn(13510), Action::Answer, say("hi")]
    );
}

#[test]
fn redirect_resolves_and_reloads_current_document() {
    let mut call = Call::url(APP);
    call.drain();
    let next = "https://app.test/voice/next.xml";
    assert_eq!(
        call.twiml_at(
            APP,
            "<Redirect method=\"GET\">next.xml</Redirect><Say>x</Say>"
        ),
        vec![fetch(next, HttpMethod::Get, &[])]
    );
    let here = "https://app.test/voice/next.xml#ct=text/xml";
    assert_eq!(
        call.twiml_at(here, "<Say>a</Say><Redirect/>"),
        vec![Action::Answer, say("a")]
    );
    assert_eq!(call.event(Event::VerbFinished), vec![post(here, &[])]);
    let abs = call.twiml_at(here, "<Redirect>http://other.test/x</Redirect>");
    assert_eq!(abs, vec![post("http://other.test/x", &[])]);
}

#[test]
fn empty_redirect_of_inline_twiml_reruns_the_text() {
    let mut call = Call::twiml("<Say>again</Say><Redirect/>");
    assert_eq!(call.drain(), vec![Action::Answer, say("again")]);
    assert_eq!(call.event(Event::VerbFinished), vec![say("again")]);
    assert_eq!(call.event(Event::VerbFinished), vec![say("again")]);
}

#[test]
fn redirect_loop_without_media_is_stopped() {
    let mut call = Call::twiml("<Redirect/>");
    let mut want = vec![warn(12400)];
    want.extend(error_message());
    assert_eq!(call.drain(), want);
    assert_eq!(call.event(Event::VerbFinished), vec![Action::Hangup]);

    let mut call = Call::url(APP);
    let mut fetches = call.drain().len();
    loop {
        let actions = call.twiml_at(APP, "<Redirect/>");
        if actions != vec![post(APP, &[])] {
            assert_eq!(actions[0], warn(12400));
            break;
        }
        fetches += 1;
    }
    // The call's own URL, then the redirects up to the bound.
    assert_eq!(fetches, MAX_DOCUMENTS_WITHOUT_MEDIA as usize + 1);
}

#[test]
fn unsupported_dial_then_redirect_loop_is_stopped() {
    let actions = Call::twiml("<Dial><Client>bob</Client></Dial><Redirect/>").drain();
    // Answer, one 13224 per run of the document, then 12400 and the error message.
    assert_eq!(actions.len(), 1 + MAX_DOCUMENTS_WITHOUT_MEDIA as usize + 2);
    assert_eq!(actions[..2], [Action::Answer, warn(13224)]);
}

#[test]
fn unplayable_media_does_not_reset_the_loop_count() {
    let actions = Call::twiml("<Play>relative.mp3</Play><Redirect/>").drain();
    assert_eq!(actions.len(), 1 + MAX_DOCUMENTS_WITHOUT_MEDIA as usize + 2);
    assert_eq!(actions[actions.len() - 2], warn(12400));
}

#[test]
fn media_resets_the_loop_count() {
    let mut call = Call::twiml("<Pause/><Redirect/>");
    for _ in 0..(MAX_DOCUMENTS_WITHOUT_MEDIA * 2) {
        assert_eq!(call.wait(1000), vec![]);
    }
    assert!(!call.engine.is_finished());
}

#[test]
fn gather_barge_in_and_num_digits() {
    let mut call = Call::url(APP);
    call.drain();
    let doc = "<Gather numDigits=\"2\" action=\"/menu\"><Say>press</Say><Play>p.mp3</Play></Gather><Say>none</Say>";
    assert_eq!(call.twiml_at(APP, doc), vec![Action::Answer, say("press")]);
    assert_eq!(call.digits("4"), vec![Action::StopMedia]);
    assert_eq!(
        call.engine.poll_timeout(),
        Some(call.now + Duration::from_secs(5))
    );
    let want = post(
        "https://app.test/menu",
        &[("Digits", "42"), ("FinishedOnKey", "")],
    );
    assert_eq!(call.digits("2"), vec![want]);
    assert_eq!(call.engine.poll_timeout(), None);
}

#[test]
fn gather_finish_on_key_and_timeouts() {
    let mut call = Call::url(APP);
    call.drain();
    assert_eq!(
        call.twiml_at(APP, "<Gather timeout=\"3\"><Pause length=\"2\"/></Gather>"),
        vec![Action::Answer]
    );
    assert_eq!(call.wait(2000), vec![]);
    assert_eq!(call.digits("1"), vec![]);
    assert_eq!(call.wait(2999), vec![]);
    assert_eq!(call.digits("2"), vec![]);
    assert_eq!(
        call.digits("#"),
        vec![post(APP, &[("Digits", "12"), ("FinishedOnKey", "#")])]
    );

    let mut call =
        Call::twiml("<Gather action=\"http://a.test/g\" timeout=\"3\"/><Say>after</Say>");
    assert_eq!(call.drain(), vec![Action::Answer]);
    assert_eq!(call.digits("7"), vec![]);
    assert_eq!(
        call.wait(3000),
        vec![post(
            "http://a.test/g",
            &[("Digits", "7"), ("FinishedOnKey", "")]
        )]
    );
}

#[test]
fn gather_digit_during_pause_prompt_needs_no_stop() {
    let mut call = Call::twiml(
        "<Gather numDigits=\"1\" action=\"http://a.test/g\"><Pause length=\"5\"/></Gather>",
    );
    assert_eq!(call.drain(), vec![Action::Answer]);
    assert_eq!(
        call.digits("9"),
        vec![post(
            "http://a.test/g",
            &[("Digits", "9"), ("FinishedOnKey", "")]
        )]
    );
}

#[test]
fn gather_without_input_goes_on_unless_action_on_empty_result() {
    let mut call = Call::twiml("<Gather><Say>p</Say></Gather><Say>next</Say>");
    assert_eq!(call.drain(), vec![Action::Answer, say("p")]);
    assert_eq!(call.event(Event::VerbFinished), vec![]);
    assert_eq!(call.wait(5000), vec![say("next")]);

    let mut call = Call::twiml("<Gather numDigits=\"3\"/><Say>next</Say>");
    call.drain();
    assert_eq!(call.digits("#"), vec![say("next")]);

    let mut call = Call::url(APP);
    call.drain();
    call.twiml_at(APP, "<Gather actionOnEmptyResult=\"true\" method=\"GET\"/>");
    assert_eq!(
        call.wait(5000),
        vec![fetch(APP, HttpMethod::Get, &[("FinishedOnKey", "")])]
    );
}

#[test]
fn gather_empty_finish_on_key_and_ignored_digits() {
    let mut call =
        Call::twiml("<Gather finishOnKey=\"\" numDigits=\"2\" action=\"http://a.test/g\"/>");
    call.drain();
    assert_eq!(call.digits("x#"), vec![]);
    assert_eq!(
        call.digits("*"),
        vec![post(
            "http://a.test/g",
            &[("Digits", "#*"), ("FinishedOnKey", "")]
        )]
    );

    let mut call = Call::twiml("<Gather input=\"speech\"/><Say>next</Say>");
    call.drain();
    assert_eq!(call.digits("1"), vec![]);
    assert_eq!(call.wait(5000), vec![say("next")]);

    let mut call = Call::twiml("<Say>no gather</Say>");
    call.drain();
    assert_eq!(call.digits("1"), vec![]);
}

#[test]
fn gather_default_action_of_inline_twiml_reruns_the_text() {
    let mut call = Call::twiml("<Gather numDigits=\"1\"><Say>menu</Say></Gather>");
    assert_eq!(call.drain(), vec![Action::Answer, say("menu")]);
    assert_eq!(call.digits("1"), vec![Action::StopMedia, say("menu")]);
}

#[test]
fn dial_conference_joins_with_resolved_urls() {
    let mut call = Call::url(APP);
    call.drain();
    let doc = "<Dial action=\"/after\" hangupOnStar=\"true\" timeLimit=\"60\" record=\"true\" recordingStatusCallback=\"rec\">\
               <Conference waitUrl=\"wait.xml\" statusCallback=\"/cb\" eventCallbackUrl=\"ev\" beep=\"false\">Room</Conference></Dial>";
    let actions = call.twiml_at(APP, doc);
    let [Action::Answer, Action::JoinConference(join)] = &actions[..] else {
        panic!("{actions:?}");
    };
    assert_eq!(join.conference.name, "Room");
    assert_eq!(
        join.conference.wait_url,
        WaitUrl::Url("https://app.test/voice/wait.xml".into())
    );
    assert_eq!(
        join.conference.status_callback.as_deref(),
        Some("https://app.test/cb")
    );
    assert_eq!(
        join.conference.event_callback_url.as_deref(),
        Some("https://app.test/voice/ev")
    );
    assert_eq!(
        join.recording_status_callback.as_deref(),
        Some("https://app.test/voice/rec")
    );
    assert!(join.hangup_on_star && join.has_action);
    assert_eq!(join.time_limit, Duration::from_secs(60));
    assert_eq!(call.digits("*"), vec![]);
    let after = post(
        "https://app.test/after",
        &[("DialCallStatus", "answered"), ("DialBridged", "true")],
    );
    assert_eq!(
        call.event(Event::DialEnded(DialOutcome::HangupOnStar)),
        vec![after]
    );
}

#[test]
fn dial_outcomes() {
    let table: &[(DialOutcome, &str, &str)] = &[
        (DialOutcome::Completed, "answered", "true"),
        (DialOutcome::HangupOnStar, "answered", "true"),
        (DialOutcome::NotJoined, "failed", "false"),
    ];
    for (outcome, status, bridged) in table {
        let mut call = Call::twiml(
            "<Dial action=\"http://a.test/d\"><Conference>R</Conference></Dial><Say>x</Say>",
        );
        call.drain();
        let want = post(
            "http://a.test/d",
            &[("DialCallStatus", status), ("DialBridged", bridged)],
        );
        assert_eq!(
            call.event(Event::DialEnded(*outcome)),
            vec![want],
            "{outcome:?}"
        );
        let mut call = Call::twiml("<Dial><Conference>R</Conference></Dial><Say>x</Say>");
        call.drain();
        assert_eq!(
            call.event(Event::DialEnded(*outcome)),
            vec![say("x")],
            "{outcome:?}"
        );
    }
}

#[test]
fn caller_hangup_requests_pending_dial_action_then_finishes() {
    let mut call =
        Call::twiml("<Dial action=\"http://a.test/d\"><Conference>R</Conference></Dial>");
    call.drain();
    let want = post(
        "http://a.test/d",
        &[("DialCallStatus", "answered"), ("DialBridged", "true")],
    );
    assert_eq!(call.event(Event::CallHungUp), vec![want, Action::Finished]);
    assert_eq!(call.twiml_at("http://a.test/d", "<Say>x</Say>"), vec![]);

    let mut call =
        Call::twiml("<Dial action=\"http://a.test/d\"><Conference>R</Conference></Dial>");
    call.drain();
    let actions = call.event(Event::DialEnded(DialOutcome::CallerHungUp));
    assert_eq!(actions.last(), Some(&Action::Finished));
    assert_eq!(call.event(Event::CallHungUp), vec![]);

    let mut call = Call::twiml("<Say>x</Say>");
    call.drain();
    assert_eq!(call.event(Event::CallHungUp), vec![Action::Finished]);
    assert_eq!(call.event(Event::VerbFinished), vec![]);
}

#[test]
fn dial_of_unsupported_nouns_warns_and_continues() {
    let mut call = Call::twiml("<Dial><Client>a</Client></Dial><Say>x</Say>");
    assert_eq!(call.drain(), vec![Action::Answer, warn(13224), say("x")]);
    let mut call =
        Call::twiml("<Dial action=\"http://a.test/d\"><Client>b</Client></Dial><Say>x</Say>");
    let want = post(
        "http://a.test/d",
        &[("DialCallStatus", "failed"), ("DialBridged", "false")],
    );
    assert_eq!(call.drain(), vec![Action::Answer, warn(13224), want]);
}

#[test]
fn fetch_failure_goes_to_fallback_once() {
    let fallback = Fallback {
        url: "https://fb.test/fallback".into(),
        method: HttpMethod::Get,
    };
    let mut call = Call::new(
        Source::Url {
            url: APP.into(),
            method: HttpMethod::Post,
        },
        Some(fallback),
    );
    assert_eq!(call.drain(), vec![post(APP, &[])]);
    let want = fetch(
        "https://fb.test/fallback",
        HttpMethod::Get,
        &[("ErrorCode", "11200"), ("ErrorUrl", APP)],
    );
    assert_eq!(call.event(Event::FetchFailed { code: 11200 }), vec![want]);
    assert_eq!(
        call.event(Event::FetchFailed { code: 11205 }),
        error_message()
    );
    assert_eq!(call.event(Event::VerbFinished), vec![Action::Hangup]);
}

#[test]
fn fallback_gets_the_gather_digits_and_parse_errors() {
    let fallback = Fallback {
        url: "https://fb.test/f".into(),
        method: HttpMethod::Post,
    };
    let mut call = Call::new(
        Source::Twiml(
            "<Response><Gather numDigits=\"1\" action=\"https://a.test/g\"/></Response>".into(),
        ),
        Some(fallback),
    );
    call.drain();
    assert_eq!(
        call.digits("5"),
        vec![post(
            "https://a.test/g",
            &[("Digits", "5"), ("FinishedOnKey", "")]
        )]
    );
    let body = Fetched::Twiml("<Respons/>".into());
    let actions = call.event(Event::DocumentFetched {
        url: "https://a.test/g".into(),
        body,
    });
    let params = [
        ("Digits", "5"),
        ("FinishedOnKey", ""),
        ("ErrorCode", "12102"),
        ("ErrorUrl", "https://a.test/g"),
    ];
    assert_eq!(
        actions,
        vec![warn(12102), post("https://fb.test/f", &params)]
    );
    let actions = call.twiml_at("https://fb.test/f", "<Say>sorry</Say>");
    assert_eq!(actions, vec![say("sorry")]);
}

#[test]
fn parse_error_without_fallback_says_the_error_message() {
    let mut call = Call::url(APP);
    call.drain();
    let actions = call.event(Event::DocumentFetched {
        url: APP.into(),
        body: Fetched::Twiml("oops".into()),
    });
    let mut want = vec![warn(12100)];
    want.extend(error_message());
    assert_eq!(actions, want);
    let mut call = Call::new(Source::Twiml("<Say>unclosed".into()), None);
    assert_eq!(call.drain()[0], warn(12100));
    let mut call = Call::new(
        Source::Url {
            url: "not a url".into(),
            method: HttpMethod::Post,
        },
        None,
    );
    assert_eq!(call.drain()[0], warn(11100));
}

#[test]
fn relative_url_in_inline_twiml_is_an_application_error() {
    let mut want = vec![warn(11100)];
    want.extend(error_message());
    assert_eq!(Call::twiml("<Redirect>next.xml</Redirect>").drain(), want);
    let actions = Call::twiml("<Play>a.mp3</Play><Say>x</Say>").drain();
    assert_eq!(actions, vec![Action::Answer, warn(11100), say("x")]);
}

#[test]
fn audio_and_plain_text_documents() {
    let mut call = Call::url(APP);
    call.drain();
    let actions = call.event(Event::DocumentFetched {
        url: "https://app.test/hello.mp3".into(),
        body: Fetched::Audio,
    });
    assert_eq!(
        actions,
        vec![Action::Answer, play("https://app.test/hello.mp3")]
    );
    assert_eq!(call.event(Event::VerbFinished), vec![Action::Hangup]);

    let mut call = Call::url(APP);
    call.drain();
    let text = Fetched::Text("Hello\nthere".into());
    assert_eq!(
        call.event(Event::DocumentFetched {
            url: APP.into(),
            body: text
        }),
        vec![Action::Answer, say("Hello there")]
    );
    assert_eq!(call.event(Event::VerbFinished), vec![Action::Hangup]);

    let mut call = Call::url(APP);
    call.drain();
    let text = Fetched::Text("<Response><Hangup/></Response>".into());
    assert_eq!(
        call.event(Event::DocumentFetched {
            url: APP.into(),
            body: text
        }),
        vec![Action::Answer, Action::Hangup]
    );
}

#[test]
fn events_out_of_place_are_ignored() {
    let mut call = Call::url(APP);
    call.drain();
    assert_eq!(call.event(Event::VerbFinished), vec![]);
    assert_eq!(call.event(Event::DialEnded(DialOutcome::Completed)), vec![]);
    assert_eq!(call.digits("1"), vec![]);
    assert_eq!(
        call.twiml_at(APP, "<Say>x</Say>"),
        vec![Action::Answer, say("x")]
    );
    assert_eq!(call.event(Event::FetchFailed { code: 11200 }), vec![]);
    assert_eq!(call.twiml_at(APP, "<Hangup/>"), vec![]);
}
