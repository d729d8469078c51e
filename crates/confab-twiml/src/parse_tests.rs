//! Rule table of the parser: every verb, attribute, default, error and warning code.

use std::time::Duration;

use confab_core::{Beep, HttpMethod, JitterBufferSize};

use crate::attribute::{
    ConferenceEvent, ConferenceRecord, DialRecord, RecordingEvent, Trim, WaitUrl,
};
use crate::dial::{Callee, Conference, Dial, DialNoun};
use crate::error::TwimlError;
use crate::parse::{parse, MAX_WARNINGS};
use crate::verb::{
    Document, Gather, GatherInput, Pause, Play, PlaySource, Prompt, Redirect, RejectReason, Say,
    SaySegment, Verb, LOOP_CAP,
};

fn doc(body: &str) -> Document {
    let text = format!("<Response>{body}</Response>");
    match parse(&text) {
        Ok(doc) => doc,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn codes(body: &str) -> Vec<u32> {
    doc(body).warnings.iter().map(|w| w.code).collect()
}

fn one(body: &str) -> Verb {
    let d = doc(body);
    assert_eq!(d.verbs.len(), 1, "{body}: {d:?}");
    d.verbs.into_iter().next().unwrap_or(Verb::Hangup)
}

fn say(body: &str) -> Say {
    match one(body) {
        Verb::Say(s) => s,
        other => panic!("{body}: {other:?}"),
    }
}

fn play(body: &str) -> Play {
    match one(body) {
        Verb::Play(p) => p,
        other => panic!("{body}: {other:?}"),
    }
}

fn gather(body: &str) -> Gather {
    match one(body) {
        Verb::Gather(g) => g,
        other => panic!("{body}: {other:?}"),
    }
}

fn dial(body: &str) -> Dial {
    match one(body) {
        Verb::Dial(d) => *d,
        other => panic!("{body}: {other:?}"),
    }
}

fn conference(attrs: &str) -> Conference {
    let d = dial(&format!(
        "<Dial><Conference {attrs}>Room</Conference></Dial>"
    ));
    match d.nouns.into_iter().next() {
        Some(DialNoun::Conference(c)) => *c,
        other => panic!("{attrs}: {other:?}"),
    }
}

fn text(s: &str) -> SaySegment {
    SaySegment::Text(s.into())
}

#[test]
fn document_errors() {
    let table: &[(&str, u32)] = &[
        ("", 12100),
        ("   \n", 12100),
        ("not xml", 12100),
        ("<Response>", 12100),
        ("<Response></Respons>", 12100),
        (
            "<!DOCTYPE r [<!ENTITY a 'b'>]><Response>&a;</Response>",
            12100,
        ),
        ("<response/>", 12102),
        ("<Say>hi</Say>", 12102),
        ("<Foo><Response/></Foo>", 12102),
    ];
    for (text, code) in table {
        match parse(text) {
            Err(e) => assert_eq!(e.code(), *code, "{text:?}: {e}"),
            Ok(d) => panic!("{text:?} parsed: {d:?}"),
        }
    }
    assert!(matches!(parse("<x/>"), Err(TwimlError::RootNotResponse { found }) if found == "x"));
}

#[test]
fn empty_and_declared_documents_parse() {
    assert_eq!(doc(""), Document::default());
    let d = parse("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n</Response>\n");
    assert_eq!(d, Ok(Document::default()));
    assert_eq!(codes("<!-- comment --><?pi x?>"), Vec::<u32>::new());
}

#[test]
fn schema_warnings_skip_and_continue() {
    let table: &[(&str, &[u32], usize)] = &[
        ("<say>x</say><Hangup/>", &[12200], 1),
        ("<Record/><Hangup/>", &[12200], 1),
        ("<Hangup foo=\"1\"/>", &[12200], 1),
        ("stray text<Hangup/>", &[12200], 1),
        ("<Say Voice=\"man\">x</Say>", &[12200], 1),
        ("<Gather><Dial>+1</Dial></Gather>", &[12200], 1),
        ("<Gather><Gather/></Gather>", &[12200], 1),
        ("<Redirect><Hangup/></Redirect>", &[12200], 1),
        ("<Dial><Foo/></Dial>", &[12200, 12200], 0),
        (
            "<Hangup><Parameter name=\"a\" value=\"b\"/></Hangup>",
            &[],
            1,
        ),
    ];
    for (body, want, verbs) in table {
        let d = doc(body);
        let got: Vec<u32> = d.warnings.iter().map(|w| w.code).collect();
        assert_eq!(&got, want, "{body}: {:?}", d.warnings);
        assert_eq!(d.verbs.len(), *verbs, "{body}");
    }
    assert!(doc("<say>x</say>").warnings[0]
        .message
        .contains("case-sensitive"));
}

#[test]
fn warnings_are_capped() {
    let body = "<Foo/>".repeat(MAX_WARNINGS + 50);
    let d = doc(&body);
    assert_eq!(d.warnings.len(), MAX_WARNINGS + 1);
    assert!(d.warnings[MAX_WARNINGS].message.contains("50 more"));
}

#[test]
fn say_attributes_and_defaults() {
    let s = say("<Say>Hello  there\n world</Say>");
    assert_eq!(s.segments, vec![text("Hello there world")]);
    assert_eq!(
        (s.voice.as_str(), s.language.as_str(), s.loop_count),
        ("man", "en-US", 1)
    );
    let s = say("<Say voice=\"Polly.Joanna-Neural\" language=\"de-DE\" loop=\"3\">x</Say>");
    assert_eq!(
        (s.voice.as_str(), s.language.as_str(), s.loop_count),
        ("Polly.Joanna-Neural", "de-DE", 3)
    );
    let table: &[(&str, &str, u32, &[u32])] = &[
        ("voice=\"woman\"", "woman", 1, &[]),
        ("voice=\"alice\"", "alice", 1, &[]),
        (
            "voice=\"Google.en-US-Standard-A\"",
            "Google.en-US-Standard-A",
            1,
            &[],
        ),
        ("voice=\"robot\"", "man", 1, &[13511]),
        ("voice=\"Polly.\"", "man", 1, &[13511]),
        ("loop=\"0\"", "man", LOOP_CAP, &[]),
        ("loop=\"5000\"", "man", LOOP_CAP, &[]),
        ("loop=\"-1\"", "man", 1, &[13510]),
        ("loop=\"two\"", "man", 1, &[13510]),
    ];
    for (attrs, voice, loops, warnings) in table {
        let body = format!("<Say {attrs}>x</Say>");
        let s = say(&body);
        assert_eq!(
            (s.voice.as_str(), s.loop_count),
            (*voice, *loops),
            "{attrs}"
        );
        assert_eq!(codes(&body), *warnings, "{attrs}");
    }
}

#[test]
fn say_without_text_is_skipped_with_13520() {
    for body in [
        "<Say></Say>",
        "<Say>   </Say>",
        "<Say/>",
        "<Say><break time=\"1s\"/></Say>",
    ] {
        let d = doc(body);
        assert!(d.verbs.is_empty(), "{body}");
        assert_eq!(codes(body), vec![13520], "{body}");
    }
}

#[test]
fn say_ssml_segments() {
    let s = say(
        "<Say>Hi <break time=\"500ms\"/> <emphasis level=\"strong\">you</emphasis> there\
         <break strength=\"x-strong\"/><prosody rate=\"slow\"><say-as interpret-as=\"digits\">12</say-as></prosody>\
         <break time=\"2s\" strength=\"weak\"/><break/>end</Say>",
    );
    assert_eq!(
        s.segments,
        vec![
            text("Hi"),
            SaySegment::Pause(Duration::from_millis(500)),
            text("you there"),
            SaySegment::Pause(Duration::from_millis(1250)),
            text("12"),
            SaySegment::Pause(Duration::from_secs(2)),
            SaySegment::Pause(Duration::from_millis(750)),
            text("end"),
        ]
    );
    let table: &[(&str, Duration, &[u32])] = &[
        ("time=\"1.5s\"", Duration::from_millis(1500), &[]),
        ("time=\"60s\"", Duration::from_secs(10), &[]),
        ("time=\"fast\"", Duration::from_millis(750), &[12200]),
        ("strength=\"none\"", Duration::ZERO, &[]),
        ("strength=\"x-weak\"", Duration::from_millis(250), &[]),
        ("strength=\"weak\"", Duration::from_millis(500), &[]),
        ("strength=\"strong\"", Duration::from_millis(1000), &[]),
        ("strength=\"loud\"", Duration::from_millis(750), &[12200]),
    ];
    for (attrs, pause, warnings) in table {
        let body = format!("<Say>a<break {attrs}/>b</Say>");
        assert_eq!(say(&body).segments[1], SaySegment::Pause(*pause), "{attrs}");
        assert_eq!(codes(&body), *warnings, "{attrs}");
    }
    assert_eq!(codes("<Say>a<blink>b</blink></Say>"), vec![12200]);
    assert_eq!(
        say("<Say>a<blink>b</blink></Say>").segments,
        vec![text("ab")]
    );
}

#[test]
fn play_attributes_and_defaults() {
    let p = play("<Play> https://x.test/a.mp3 </Play>");
    assert_eq!(
        p,
        Play {
            source: PlaySource::Url("https://x.test/a.mp3".into()),
            loop_count: 1
        }
    );
    assert_eq!(play("<Play loop=\"0\">a.wav</Play>").loop_count, LOOP_CAP);
    assert_eq!(play("<Play loop=\"7\">a.wav</Play>").loop_count, 7);
    let p = play("<Play digits=\"12wW#*AD\"/>");
    assert_eq!(p.source, PlaySource::Digits("12wW#*AD".into()));
    let table: &[(&str, &[u32], usize)] = &[
        ("<Play loop=\"x\">a.wav</Play>", &[13410], 1),
        ("<Play loop=\"-2\">a.wav</Play>", &[13410], 1),
        ("<Play digits=\"12E\"/>", &[13430, 12200], 0),
        ("<Play digits=\"12E\">a.wav</Play>", &[13430], 1),
        ("<Play digits=\"1\">a.wav</Play>", &[12200], 1),
        ("<Play/>", &[12200], 0),
        ("<Play>a.wav<Say>x</Say></Play>", &[12200], 1),
    ];
    for (body, want, verbs) in table {
        assert_eq!(codes(body), *want, "{body}");
        assert_eq!(doc(body).verbs.len(), *verbs, "{body}");
    }
}

#[test]
fn pause_redirect_hangup_reject() {
    let table: &[(&str, Verb, &[u32])] = &[
        (
            "<Pause/>",
            Verb::Pause(Pause {
                length: Duration::from_secs(1),
            }),
            &[],
        ),
        (
            "<Pause length=\"7\"/>",
            Verb::Pause(Pause {
                length: Duration::from_secs(7),
            }),
            &[],
        ),
        (
            "<Pause length=\"0\"/>",
            Verb::Pause(Pause {
                length: Duration::from_secs(1),
            }),
            &[13910],
        ),
        (
            "<Pause length=\"a\"/>",
            Verb::Pause(Pause {
                length: Duration::from_secs(1),
            }),
            &[13910],
        ),
        (
            "<Redirect/>",
            Verb::Redirect(Redirect {
                url: None,
                method: HttpMethod::Post,
            }),
            &[],
        ),
        (
            "<Redirect method=\"get\"> next.xml </Redirect>",
            Verb::Redirect(Redirect {
                url: Some("next.xml".into()),
                method: HttpMethod::Get,
            }),
            &[],
        ),
        (
            "<Redirect method=\"PUT\">n</Redirect>",
            Verb::Redirect(Redirect {
                url: Some("n".into()),
                method: HttpMethod::Post,
            }),
            &[13710],
        ),
        ("<Hangup/>", Verb::Hangup, &[]),
        ("<Reject/>", Verb::Reject(RejectReason::Rejected), &[]),
        (
            "<Reject reason=\"busy\"/>",
            Verb::Reject(RejectReason::Busy),
            &[],
        ),
        (
            "<Reject reason=\"rejected\"/>",
            Verb::Reject(RejectReason::Rejected),
            &[],
        ),
        (
            "<Reject reason=\"nope\"/>",
            Verb::Reject(RejectReason::Rejected),
            &[13810],
        ),
    ];
    for (body, verb, warnings) in table {
        assert_eq!(&one(body), verb, "{body}");
        assert_eq!(codes(body), *warnings, "{body}");
    }
    assert_eq!(RejectReason::Busy.as_str(), "busy");
}

#[test]
fn gather_defaults() {
    let g = gather("<Gather/>");
    assert_eq!(g.input, GatherInput::Dtmf);
    assert_eq!(g.action, None);
    assert_eq!(g.method, HttpMethod::Post);
    assert_eq!(g.timeout, Duration::from_secs(5));
    assert_eq!(g.finish_on_key, Some('#'));
    assert_eq!(g.num_digits, None);
    assert!(!g.action_on_empty_result);
    assert!(g.prompts.is_empty());
}

#[test]
fn gather_attributes() {
    let g = gather(
        "<Gather input=\"dtmf speech\" action=\"/menu\" method=\"GET\" timeout=\"9\" finishOnKey=\"*\" \
         numDigits=\"4\" actionOnEmptyResult=\"true\" speechTimeout=\"auto\" language=\"fr-FR\" hints=\"a,b\" \
         profanityFilter=\"false\" speechModel=\"phone_call\" enhanced=\"true\" partialResultCallback=\"/p\" \
         partialResultCallbackMethod=\"GET\"/>",
    );
    assert_eq!(g.input, GatherInput::DtmfSpeech);
    assert_eq!(g.action.as_deref(), Some("/menu"));
    assert_eq!(g.method, HttpMethod::Get);
    assert_eq!(g.timeout, Duration::from_secs(9));
    assert_eq!(g.finish_on_key, Some('*'));
    assert_eq!(g.num_digits, Some(4));
    assert!(g.action_on_empty_result);
    assert_eq!(g.speech.speech_timeout.as_deref(), Some("auto"));
    assert_eq!(g.speech.language.as_deref(), Some("fr-FR"));
    assert_eq!(
        g.speech.partial_result_callback_method.as_deref(),
        Some("GET")
    );
    assert_eq!(gather("<Gather finishOnKey=\"\"/>").finish_on_key, None);
    assert_eq!(
        gather("<Gather input=\"speech\"/>").input,
        GatherInput::Speech
    );
    assert!(!GatherInput::Speech.dtmf());
    let table: &[(&str, &[u32])] = &[
        ("input=\"voice\"", &[12200]),
        ("finishOnKey=\"##\"", &[12200]),
        ("finishOnKey=\"x\"", &[12200]),
        ("numDigits=\"0\"", &[12200]),
        ("timeout=\"soon\"", &[12200]),
        ("method=\"PATCH\"", &[12200]),
        ("actionOnEmptyResult=\"yes\"", &[12200]),
        ("unknown=\"1\"", &[12200]),
    ];
    for (attrs, want) in table {
        let body = format!("<Gather {attrs}/>");
        assert_eq!(codes(&body), *want, "{attrs}");
        let g = gather(&body);
        assert_eq!(
            (g.finish_on_key, g.num_digits, g.timeout),
            (Some('#'), None, Duration::from_secs(5))
        );
    }
}

#[test]
fn gather_prompts() {
    let g = gather("<Gather><Say>a</Say><Play>b.mp3</Play><Pause length=\"2\"/><Hangup/></Gather>");
    assert_eq!(g.prompts.len(), 3);
    assert!(matches!(&g.prompts[0], Prompt::Say(s) if s.segments == vec![text("a")]));
    assert!(
        matches!(&g.prompts[1], Prompt::Play(p) if p.source == PlaySource::Url("b.mp3".into()))
    );
    assert_eq!(
        g.prompts[2],
        Prompt::Pause(Pause {
            length: Duration::from_secs(2)
        })
    );
    assert_eq!(
        codes("<Gather><Play digits=\"1\"/></Gather>"),
        vec![12200, 12200]
    );
    assert!(gather("<Gather><Play digits=\"1\"/></Gather>")
        .prompts
        .is_empty());
}

#[test]
fn dial_defaults_and_bare_number() {
    let d = dial("<Dial> +15550100 </Dial>");
    assert_eq!(
        d.nouns,
        vec![DialNoun::Number(Box::new(Callee::new("+15550100")))]
    );
    assert!(d.nouns[0].is_supported());
    assert_eq!(d.action, None);
    assert_eq!(d.method, HttpMethod::Post);
    assert_eq!(d.timeout, Duration::from_secs(30));
    assert!(!d.hangup_on_star);
    assert_eq!(d.time_limit, Duration::from_secs(14_400));
    assert_eq!(d.record, DialRecord::DoNotRecord);
    assert_eq!(d.trim, Trim::TrimSilence);
    assert_eq!(d.recording_status_callback_method, HttpMethod::Post);
    assert!(!d.answer_on_bridge && !d.sequential);
    assert_eq!(codes("<Dial/>"), vec![12200]);
    assert!(doc("<Dial/>").verbs.is_empty());
}

#[test]
fn dial_attributes() {
    let d = dial(
        "<Dial action=\"/after\" method=\"GET\" timeout=\"10\" hangupOnStar=\"true\" timeLimit=\"60\" \
         callerId=\"+1555\" record=\"record-from-answer-dual\" trim=\"do-not-trim\" recordingStatusCallback=\"/r\" \
         recordingStatusCallbackMethod=\"GET\" recordingStatusCallbackEvent=\"completed absent\" \
         recordingTrack=\"inbound\" answerOnBridge=\"true\" ringTone=\"us\" sequential=\"true\" referUrl=\"/refer\" \
         referMethod=\"GET\" callReason=\"why\" recordingConfigurationId=\"RC1\" events=\"x\" passports=\"y\">\
         <Conference>R</Conference></Dial>",
    );
    assert_eq!(d.action.as_deref(), Some("/after"));
    assert_eq!(
        (d.method, d.timeout, d.time_limit),
        (
            HttpMethod::Get,
            Duration::from_secs(10),
            Duration::from_secs(60)
        )
    );
    assert!(d.hangup_on_star && d.answer_on_bridge && d.sequential);
    assert_eq!(d.caller_id.as_deref(), Some("+1555"));
    assert_eq!(
        (d.record, d.trim),
        (DialRecord::RecordFromAnswerDual, Trim::DoNotTrim)
    );
    assert_eq!(
        d.recording_status_callback_event.as_deref(),
        Some("completed absent")
    );
    assert_eq!(
        (d.refer_method, d.refer_url.as_deref()),
        (HttpMethod::Get, Some("/refer"))
    );
    assert_eq!(d.recording_configuration_id.as_deref(), Some("RC1"));
    let table: &[(&str, DialRecord)] = &[
        ("true", DialRecord::RecordFromAnswer),
        ("false", DialRecord::DoNotRecord),
        ("record-from-ringing", DialRecord::RecordFromRinging),
        (
            "record-from-ringing-dual",
            DialRecord::RecordFromRingingDual,
        ),
        ("record-from-answer", DialRecord::RecordFromAnswer),
    ];
    for (value, want) in table {
        assert_eq!(
            dial(&format!("<Dial record=\"{value}\">1</Dial>")).record,
            *want
        );
    }
    for attrs in [
        "timeout=\"0\"",
        "timeLimit=\"x\"",
        "hangupOnStar=\"1\"",
        "record=\"all\"",
        "trim=\"no\"",
    ] {
        assert_eq!(
            codes(&format!("<Dial {attrs}>1</Dial>")),
            vec![12200],
            "{attrs}"
        );
    }
}

#[test]
fn dial_nouns() {
    let d = dial("<Dial><Number>+1</Number><Sip>sip:a@b</Sip><Client><Identity>bob</Identity></Client></Dial>");
    assert_eq!(
        d.nouns,
        vec![
            DialNoun::Number(Box::new(Callee::new("+1"))),
            DialNoun::Sip(Box::new(Callee::new("sip:a@b"))),
            DialNoun::Client("bob".into())
        ]
    );
    assert_eq!(
        d.nouns.iter().map(DialNoun::name).collect::<Vec<_>>(),
        ["Number", "Sip", "Client"]
    );
    let body =
        "<Dial><Number>+1</Number><Conference>A</Conference><Conference>B</Conference></Dial>";
    let d = dial(body);
    assert_eq!(codes(body), vec![13000]);
    assert!(matches!(&d.nouns[..], [DialNoun::Conference(c)] if c.name == "A"));
    assert!(d.nouns[0].is_supported());
    assert_eq!(codes("<Dial>+1<Number>+2</Number></Dial>"), vec![12200]);
    assert_eq!(
        codes("<Dial><Conference> </Conference></Dial>"),
        vec![12200, 12200]
    );
}

#[test]
fn number_and_sip_attributes() {
    let d = dial(
        "<Dial><Number sendDigits=\"1w2#\" url=\"/whisper\" method=\"GET\" \
         statusCallback=\"/cb\" statusCallbackEvent=\"ringing answered\" \
         statusCallbackMethod=\"GET\" byoc=\"BY1\"> +15550100 </Number>\
         <Sip username=\"bob\" password=\"pw\">sip:bob@example.com</Sip></Dial>",
    );
    let mut number = Callee::new("+15550100");
    number.send_digits = Some("1w2#".into());
    number.url = Some("/whisper".into());
    number.method = HttpMethod::Get;
    number.status_callback = Some("/cb".into());
    number.status_callback_event = vec!["ringing".into(), "answered".into()];
    number.status_callback_method = HttpMethod::Get;
    let mut sip = Callee::new("sip:bob@example.com");
    sip.username = Some("bob".into());
    sip.password = Some("pw".into());
    assert_eq!(
        d.nouns,
        vec![
            DialNoun::Number(Box::new(number)),
            DialNoun::Sip(Box::new(sip))
        ]
    );
    // Bad digits and events are dropped; `username` means nothing on a <Number>; an empty
    // noun is skipped.
    let body = "<Dial><Number sendDigits=\"12x\" statusCallbackEvent=\"ringing bogus\" \
                username=\"u\">+1</Number><Sip> </Sip></Dial>";
    assert_eq!(codes(body), vec![12200, 12200, 12200, 12200]);
    let mut want = Callee::new("+1");
    want.status_callback_event = vec!["ringing".into()];
    assert_eq!(dial(body).nouns, vec![DialNoun::Number(Box::new(want))]);
}

#[test]
fn conference_defaults() {
    let c = conference("");
    assert_eq!(c.name, "Room");
    assert!(!c.muted);
    assert_eq!(c.beep, Beep::True);
    assert!(c.start_conference_on_enter);
    assert!(!c.end_conference_on_exit);
    assert_eq!(c.wait_url, WaitUrl::Default);
    assert_eq!(c.wait_method, HttpMethod::Get);
    assert_eq!(c.max_participants, 250);
    assert_eq!(c.record, ConferenceRecord::DoNotRecord);
    assert_eq!(
        (
            c.region.as_deref(),
            c.coach.as_deref(),
            c.participant_label.as_deref()
        ),
        (None, None, None)
    );
    assert_eq!(c.trim, Trim::TrimSilence);
    assert_eq!(c.jitter_buffer_size, JitterBufferSize::Large);
    assert_eq!(c.status_callback, None);
    assert!(c.status_callback_event.is_empty());
    assert_eq!(c.status_callback_method, HttpMethod::Post);
    assert_eq!(c.recording_status_callback_method, HttpMethod::Post);
    assert_eq!(
        c.recording_status_callback_event,
        vec![RecordingEvent::Completed]
    );
    assert_eq!(
        (
            c.event_callback_url.as_deref(),
            c.recording_configuration_id.as_deref()
        ),
        (None, None)
    );
    let pretty = dial("<Dial>\n  <Conference>\n    My Room\n  </Conference>\n</Dial>");
    assert!(matches!(&pretty.nouns[0], DialNoun::Conference(c) if c.name == "My Room"));
}

#[test]
fn conference_every_attribute() {
    let c = conference(
        "muted=\"true\" beep=\"onExit\" startConferenceOnEnter=\"false\" endConferenceOnExit=\"true\" \
         waitUrl=\"/wait\" waitMethod=\"GET\" maxParticipants=\"10\" record=\"record-from-start\" region=\"ie1\" \
         coach=\"CA123\" trim=\"do-not-trim\" participantLabel=\"agent\" jitterBufferSize=\"small\" \
         statusCallback=\"/cb\" statusCallbackEvent=\"start end join leave mute hold modify speaker announcement\" \
         statusCallbackMethod=\"GET\" recordingStatusCallback=\"/rcb\" recordingStatusCallbackMethod=\"GET\" \
         recordingStatusCallbackEvent=\"in-progress completed absent\" eventCallbackUrl=\"/ev\" \
         recordingConfigurationId=\"RC9\"",
    );
    assert!(c.muted && !c.start_conference_on_enter && c.end_conference_on_exit);
    assert_eq!(c.beep, Beep::OnExit);
    assert_eq!(
        (c.wait_url, c.wait_method),
        (WaitUrl::Url("/wait".into()), HttpMethod::Get)
    );
    assert_eq!(c.max_participants, 10);
    assert_eq!(c.record, ConferenceRecord::RecordFromStart);
    assert_eq!(c.region.as_deref(), Some("ie1"));
    assert_eq!(c.coach.as_deref(), Some("CA123"));
    assert_eq!(c.trim, Trim::DoNotTrim);
    assert_eq!(c.participant_label.as_deref(), Some("agent"));
    assert_eq!(c.jitter_buffer_size, JitterBufferSize::Small);
    assert_eq!(c.status_callback.as_deref(), Some("/cb"));
    assert_eq!(c.status_callback_event, ConferenceEvent::ALL.to_vec());
    assert_eq!(c.status_callback_method, HttpMethod::Get);
    assert_eq!(c.recording_status_callback.as_deref(), Some("/rcb"));
    assert_eq!(c.recording_status_callback_method, HttpMethod::Get);
    assert_eq!(
        c.recording_status_callback_event,
        vec![
            RecordingEvent::InProgress,
            RecordingEvent::Completed,
            RecordingEvent::Absent
        ]
    );
    assert_eq!(c.event_callback_url.as_deref(), Some("/ev"));
    assert_eq!(c.recording_configuration_id.as_deref(), Some("RC9"));
    assert_eq!(
        ConferenceRecord::RecordFromStart.as_str(),
        "record-from-start"
    );
    assert_eq!(Trim::DoNotTrim.as_str(), "do-not-trim");
    assert_eq!(RecordingEvent::InProgress.as_str(), "in-progress");
}

#[test]
fn conference_values_and_warnings() {
    for (beep, want) in [
        ("false", Beep::False),
        ("onEnter", Beep::OnEnter),
        ("true", Beep::True),
    ] {
        assert_eq!(conference(&format!("beep=\"{beep}\"")).beep, want);
    }
    assert_eq!(conference("waitUrl=\"\"").wait_url, WaitUrl::Silence);
    assert_eq!(conference("waitUrl=\"\"").wait_method, HttpMethod::Post);
    assert_eq!(
        conference("waitUrl=\"http://m.test/w.xml\"").wait_method,
        HttpMethod::Post
    );
    assert_eq!(conference("region=\"us2\"").region.as_deref(), Some("us2"));
    assert_eq!(
        conference("statusCallbackEvent=\"join join  leave\"").status_callback_event,
        vec![ConferenceEvent::Join, ConferenceEvent::Leave]
    );
    assert_eq!(
        conference("recordingStatusCallbackEvent=\"\"").recording_status_callback_event,
        vec![]
    );
    let table: &[(&str, &[u32])] = &[
        ("waitUrl=\"not a url\"", &[13233]),
        ("waitUrl=\"http://[bad\"", &[13233]),
        ("waitUrl=\"/w\" waitMethod=\"PUT\"", &[13234]),
        ("muted=\"yes\"", &[12200]),
        ("beep=\"loud\"", &[12200]),
        ("startConferenceOnEnter=\"1\"", &[12200]),
        ("endConferenceOnExit=\"0\"", &[12200]),
        ("maxParticipants=\"1\"", &[12200]),
        ("maxParticipants=\"251\"", &[12200]),
        ("record=\"true\"", &[12200]),
        ("region=\"mars1\"", &[12200]),
        ("trim=\"x\"", &[12200]),
        ("jitterBufferSize=\"huge\"", &[12200]),
        ("statusCallbackEvent=\"start bogus\"", &[12200]),
        ("statusCallbackMethod=\"PUT\"", &[12200]),
        ("recordingStatusCallbackEvent=\"done\"", &[12200]),
        ("Muted=\"true\"", &[12200]),
    ];
    for (attrs, want) in table {
        let body = format!("<Dial><Conference {attrs}>Room</Conference></Dial>");
        assert_eq!(codes(&body), *want, "{attrs}");
    }
    let c = conference("waitUrl=\"not a url\" maxParticipants=\"1\" muted=\"yes\"");
    assert_eq!(
        (c.wait_url, c.max_participants, c.muted),
        (WaitUrl::Default, 250, false)
    );
}

#[test]
fn big_and_deep_documents_stay_bounded() {
    let body = "<Say>x</Say>".repeat(10_000);
    assert_eq!(doc(&body).verbs.len(), 10_000);
    let deep = format!(
        "<Response><Say>{}x{}</Say></Response>",
        "<s>".repeat(5_000),
        "</s>".repeat(5_000)
    );
    // roxmltree may refuse very deep nesting; either way there is no panic or overflow.
    if let Ok(d) = parse(&deep) {
        assert_eq!(d.verbs.len(), 1);
    }
    let deep = format!(
        "<Response>{}{}</Response>",
        "<Gather>".repeat(5_000),
        "</Gather>".repeat(5_000)
    );
    assert!(parse(&deep).is_ok() || parse(&deep).is_err());
}
