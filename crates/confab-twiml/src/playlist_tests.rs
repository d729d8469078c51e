//! Rule table of the playlist engine: each test drives one hold/wait/announce playlist and
//! asserts the exact actions; a property test drives random documents with random answers.

use std::time::Duration;

use confab_core::HttpMethod;
use proptest::prelude::*;

use super::{Playlist, PlaylistAction, PlaylistEvent, PlaylistKind, MAX_SILENT_DOCUMENTS};
use crate::action::Fetched;
use crate::error::{code, Warning};
use crate::parse::MAX_WARNINGS;
use crate::verb::{SaySegment, LOOP_CAP};
use PlaylistAction::Finished;

const HOLD: &str = "https://app.test/hold/music.xml";

/// One playlist and its driver.
struct Listener {
    playlist: Playlist,
}

impl Listener {
    fn hold() -> Listener {
        Listener::new(HOLD)
    }

    fn new(url: &str) -> Listener {
        Listener {
            playlist: Playlist::new(PlaylistKind::Hold, url, HttpMethod::Get),
        }
    }

    /// Drains the actions; warnings and failures keep only their code.
    fn drain(&mut self) -> Vec<PlaylistAction> {
        let mut out = Vec::new();
        while let Some(action) = self.playlist.poll_action() {
            out.push(match action {
                PlaylistAction::Warning(w) => PlaylistAction::Warning(Warning::new(w.code, "")),
                PlaylistAction::Failed { code, .. } => PlaylistAction::Failed {
                    code,
                    message: String::new(),
                },
                other => other,
            });
            assert!(out.len() < 100_000, "unbounded actions");
        }
        out
    }

    fn event(&mut self, event: PlaylistEvent) -> Vec<PlaylistAction> {
        self.playlist.handle_event(event);
        self.drain()
    }

    fn fetched(&mut self, final_url: &str, body: Fetched) -> Vec<PlaylistAction> {
        self.event(PlaylistEvent::Fetched {
            final_url: final_url.into(),
            body,
        })
    }

    /// Answers the pending fetch with `<Response>{body}</Response>` from `final_url`.
    fn twiml_at(&mut self, final_url: &str, body: &str) -> Vec<PlaylistAction> {
        self.fetched(
            final_url,
            Fetched::Twiml(format!("<Response>{body}</Response>")),
        )
    }

    /// Starts, and answers the first fetch with `body` from [`HOLD`].
    fn start(&mut self, body: &str) -> Vec<PlaylistAction> {
        assert_eq!(self.drain(), vec![fetch(HOLD, HttpMethod::Get)]);
        self.twiml_at(HOLD, body)
    }

    fn played(&mut self) -> Vec<PlaylistAction> {
        self.event(PlaylistEvent::Played)
    }

    fn play_failed(&mut self) -> Vec<PlaylistAction> {
        self.event(PlaylistEvent::PlayFailed {
            code: code::PLAY_NOT_AUDIO,
            message: "text/html".into(),
        })
    }
}

fn fetch(url: &str, method: HttpMethod) -> PlaylistAction {
    PlaylistAction::Fetch {
        url: url.into(),
        method,
    }
}

fn play(url: &str, loops: u32) -> PlaylistAction {
    PlaylistAction::Play {
        url: url.into(),
        loops,
    }
}

fn say(text: &str) -> PlaylistAction {
    PlaylistAction::Say {
        segments: vec![SaySegment::Text(text.into())],
        voice: "man".into(),
        language: "en-US".into(),
        loops: 1,
    }
}

fn pause(secs: u64) -> PlaylistAction {
    PlaylistAction::Pause(Duration::from_secs(secs))
}

fn warn(code: u32) -> PlaylistAction {
    PlaylistAction::Warning(Warning::new(code, ""))
}

fn failed(code: u32) -> PlaylistAction {
    PlaylistAction::Failed {
        code,
        message: String::new(),
    }
}

#[test]
fn a_bare_audio_response_plays_once_then_finishes() {
    let mut l = Listener::new("https://app.test/hold.mp3");
    assert_eq!(
        l.drain(),
        vec![fetch("https://app.test/hold.mp3", HttpMethod::Get)]
    );
    let url = "https://cdn.test/hold.mp3";
    assert_eq!(
        l.fetched(url, Fetched::Audio),
        vec![PlaylistAction::PlayResponse { url: url.into() }]
    );
    assert_eq!(l.played(), vec![Finished]);
    assert!(l.playlist.is_finished());
    assert_eq!(l.played(), vec![]);
}

#[test]
fn a_broken_audio_response_finishes_too() {
    let mut l = Listener::hold();
    let _ = l.drain();
    let _ = l.fetched(HOLD, Fetched::Audio);
    assert_eq!(l.play_failed(), vec![warn(code::PLAY_NOT_AUDIO), Finished]);
}

#[test]
fn media_verbs_run_in_order_then_silence() {
    let mut l = Listener::hold();
    let doc = r#"<Play loop="2">a.mp3</Play><Say voice="alice" language="fr-FR">Bonjour</Say>
                 <Pause length="3"/><Play loop="0">/b.wav</Play>"#;
    assert_eq!(l.start(doc), vec![play("https://app.test/hold/a.mp3", 2)]);
    assert_eq!(
        l.played(),
        vec![PlaylistAction::Say {
            segments: vec![SaySegment::Text("Bonjour".into())],
            voice: "alice".into(),
            language: "fr-FR".into(),
            loops: 1,
        }]
    );
    assert_eq!(l.played(), vec![pause(3)]);
    assert_eq!(l.played(), vec![play("https://app.test/b.wav", LOOP_CAP)]);
    assert_eq!(l.played(), vec![Finished]);
    assert_eq!(l.played(), vec![]);
}

#[test]
fn relative_urls_resolve_against_the_final_url() {
    let mut l = Listener::hold();
    let _ = l.drain();
    let moved = "https://cdn.test/music/v2/index.xml";
    let actions = l.twiml_at(
        moved,
        "<Play>track1.mp3</Play><Redirect>next.xml</Redirect>",
    );
    assert_eq!(
        actions,
        vec![play("https://cdn.test/music/v2/track1.mp3", 1)]
    );
    assert_eq!(
        l.played(),
        vec![fetch(
            "https://cdn.test/music/v2/next.xml",
            HttpMethod::Post
        )]
    );
}

#[test]
fn an_empty_redirect_refetches_the_current_document() {
    let mut l = Listener::hold();
    let moved = "https://cdn.test/index.xml";
    let _ = l.drain();
    let doc = "<Play>x.mp3</Play><Redirect/>";
    assert_eq!(
        l.twiml_at(moved, doc),
        vec![play("https://cdn.test/x.mp3", 1)]
    );
    assert_eq!(l.played(), vec![fetch(moved, HttpMethod::Post)]);
    // Looping goes on for as long as something is heard each round.
    for _ in 0..3 * MAX_SILENT_DOCUMENTS {
        assert_eq!(
            l.twiml_at(moved, doc),
            vec![play("https://cdn.test/x.mp3", 1)]
        );
        assert_eq!(l.played(), vec![fetch(moved, HttpMethod::Post)]);
    }
    let get = r#"<Pause/><Redirect method="GET"/>"#;
    assert_eq!(l.twiml_at(moved, get), vec![pause(1)]);
    assert_eq!(l.played(), vec![fetch(moved, HttpMethod::Get)]);
}

#[test]
fn disallowed_verbs_are_skipped_with_13238() {
    let mut l = Listener::hold();
    let doc = r#"<Dial><Conference>room</Conference></Dial><Gather><Say>press</Say></Gather>
                 <Hangup/><Reject/><Record/><Enqueue>q</Enqueue><Foo/><Say>hello</Say>"#;
    let not_allowed = code::VERB_NOT_ALLOWED_IN_PLAYLIST;
    assert_eq!(
        l.start(doc),
        vec![
            warn(not_allowed),             // Record, reported by the parser
            warn(not_allowed),             // Enqueue
            warn(code::SCHEMA_VALIDATION), // Foo is no TwiML verb at all
            warn(not_allowed),             // Dial
            warn(not_allowed),             // Gather
            warn(not_allowed),             // Hangup
            warn(not_allowed),             // Reject
            say("hello"),
        ]
    );
    assert_eq!(l.played(), vec![Finished]);
}

#[test]
fn play_digits_is_skipped() {
    let mut l = Listener::hold();
    let doc = r#"<Play digits="123"/><Play>m.mp3</Play>"#;
    assert_eq!(
        l.start(doc),
        vec![
            warn(code::VERB_NOT_ALLOWED_IN_PLAYLIST),
            play("https://app.test/hold/m.mp3", 1)
        ]
    );
}

#[test]
fn unusable_urls() {
    let mut l = Listener::hold();
    let doc = "<Play>mailto:a@b.test</Play><Say>on</Say><Redirect>ftp://x.test/d</Redirect>";
    assert_eq!(
        l.start(doc),
        vec![warn(code::INVALID_DOCUMENT_URL), say("on")]
    );
    assert_eq!(l.played(), vec![failed(code::INVALID_DOCUMENT_URL)]);

    for url in ["", "hold.xml", "file:///etc/passwd", "https://[::1"] {
        let mut l = Listener::new(url);
        assert_eq!(l.drain(), vec![failed(code::INVALID_DOCUMENT_URL)], "{url}");
        assert!(l.playlist.is_finished());
    }
}

#[test]
fn plain_text_is_twiml_if_it_parses_else_spoken() {
    let cases: &[(&str, Vec<PlaylistAction>)] = &[
        (
            "Please   hold,\n the next agent\tis with you soon.",
            vec![say("Please hold, the next agent is with you soon.")],
        ),
        (
            "<Response><Play>t.mp3</Play></Response>",
            vec![play("https://app.test/hold/t.mp3", 1)],
        ),
        ("<Foo>not twiml</Foo>", vec![say("<Foo>not twiml</Foo>")]),
        ("  \n ", vec![failed(code::DOCUMENT_PARSE_FAILURE)]),
    ];
    for (text, expected) in cases {
        let mut l = Listener::hold();
        let _ = l.drain();
        assert_eq!(
            &l.fetched(HOLD, Fetched::Text((*text).into())),
            expected,
            "{text:?}"
        );
    }
    let mut l = Listener::hold();
    let _ = l.drain();
    let _ = l.fetched(HOLD, Fetched::Text("Hold on".into()));
    assert_eq!(l.played(), vec![Finished]);
}

#[test]
fn documents_that_cannot_run_fail() {
    let cases: &[(&str, u32)] = &[
        ("", code::DOCUMENT_PARSE_FAILURE),
        ("<Response><Play>", code::DOCUMENT_PARSE_FAILURE),
        ("<html><body>503</body></html>", code::ROOT_NOT_RESPONSE),
    ];
    for (text, expected) in cases {
        let mut l = Listener::hold();
        let _ = l.drain();
        assert_eq!(
            l.fetched(HOLD, Fetched::Twiml((*text).into())),
            vec![failed(*expected)],
            "{text:?}"
        );
    }
}

#[test]
fn an_empty_document_is_silence() {
    let mut l = Listener::hold();
    assert_eq!(l.start(""), vec![Finished]);
    assert!(l.playlist.is_finished());
}

#[test]
fn failed_fetches_fail_the_playlist() {
    let mut l = Listener::hold();
    let _ = l.drain();
    let failure = PlaylistEvent::FetchFailed {
        code: code::HTTP_ERROR_STATUS,
        message: "404".into(),
    };
    assert_eq!(
        l.event(failure.clone()),
        vec![failed(code::HTTP_ERROR_STATUS)]
    );

    let mut l = Listener::hold();
    let _ = l.start("<Say>one</Say><Redirect>two.xml</Redirect>");
    let _ = l.played();
    assert_eq!(l.event(failure), vec![failed(code::HTTP_ERROR_STATUS)]);
    assert!(l.playlist.is_finished());
}

#[test]
fn a_redirect_loop_that_plays_nothing_stops() {
    let mut l = Listener::hold();
    let mut fetches = 1;
    let mut actions = l.start("<Redirect/>");
    while actions == vec![fetch(HOLD, HttpMethod::Post)] {
        fetches += 1;
        actions = l.twiml_at(HOLD, "<Redirect/>");
    }
    assert_eq!(actions, vec![failed(code::INTERNAL_FAILURE)]);
    assert_eq!(fetches, MAX_SILENT_DOCUMENTS);
}

#[test]
fn media_that_fails_does_not_count_as_heard() {
    let mut l = Listener::hold();
    let doc = "<Play>broken.mp3</Play><Redirect/>";
    let mut actions = l.start(doc);
    let mut rounds = 0;
    while actions == vec![play("https://app.test/hold/broken.mp3", 1)] {
        rounds += 1;
        let after = l.play_failed();
        assert_eq!(after[0], warn(code::PLAY_NOT_AUDIO));
        if after[1] != fetch(HOLD, HttpMethod::Post) {
            actions = after[1..].to_vec();
            break;
        }
        actions = l.twiml_at(HOLD, doc);
    }
    assert_eq!(actions, vec![failed(code::INTERNAL_FAILURE)]);
    assert_eq!(rounds, MAX_SILENT_DOCUMENTS);
}

#[test]
fn a_redirect_to_audio_plays_it_once() {
    let mut l = Listener::hold();
    let _ = l.start("<Redirect>music.mp3</Redirect>");
    let url = "https://app.test/hold/music.mp3";
    assert_eq!(
        l.fetched(url, Fetched::Audio),
        vec![PlaylistAction::PlayResponse { url: url.into() }]
    );
    assert_eq!(l.played(), vec![Finished]);
}

#[test]
fn thousands_of_verbs_run_one_by_one_with_bounded_warnings() {
    let mut l = Listener::hold();
    let doc = format!(
        "{}{}",
        "<Hangup/>".repeat(5000),
        "<Play>a.mp3</Play>".repeat(5000)
    );
    let actions = l.start(&doc);
    assert_eq!(actions.len(), MAX_WARNINGS + 2);
    assert!(actions[..=MAX_WARNINGS]
        .iter()
        .all(|a| *a == warn(code::VERB_NOT_ALLOWED_IN_PLAYLIST)));
    for _ in 1..5000 {
        assert_eq!(l.played(), vec![play("https://app.test/hold/a.mp3", 1)]);
    }
    assert_eq!(l.played(), vec![Finished]);
}

#[test]
fn events_out_of_turn_are_ignored() {
    let mut l = Listener::hold();
    assert_eq!(l.played(), vec![fetch(HOLD, HttpMethod::Get)]);
    assert_eq!(l.played(), vec![]);
    assert_eq!(l.twiml_at(HOLD, "<Say>a</Say>"), vec![say("a")]);
    assert_eq!(l.twiml_at(HOLD, "<Say>b</Say>"), vec![]);
    let failure = PlaylistEvent::FetchFailed {
        code: 11200,
        message: String::new(),
    };
    assert_eq!(l.event(failure), vec![]);
    assert_eq!(l.played(), vec![Finished]);
    assert_eq!(l.twiml_at(HOLD, "<Say>c</Say>"), vec![]);
}

#[test]
fn kinds_name_their_parameter_and_default_method() {
    let cases = [
        (PlaylistKind::Hold, "HoldUrl", HttpMethod::Get),
        (PlaylistKind::Wait, "WaitUrl", HttpMethod::Post),
        (PlaylistKind::Announce, "AnnounceUrl", HttpMethod::Post),
    ];
    for (kind, name, method) in cases {
        assert_eq!(kind.parameter_name(), name);
        assert_eq!(kind.default_method(), method);
        let mut playlist = Playlist::new(kind, "https://a.test/x", method);
        assert_eq!(playlist.kind(), kind);
        assert_eq!(
            playlist.poll_action(),
            Some(fetch("https://a.test/x", method))
        );
    }
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    // roxmltree bounds element depth and the parser walks SSML iteratively: run on a small
    // stack to prove no input recurses.
    let deep = format!(
        "<Response><Say>{}x{}</Say></Response>",
        "<p>".repeat(100_000),
        "</p>".repeat(100_000)
    );
    let outcome = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let mut l = Listener::hold();
            let _ = l.drain();
            l.fetched(HOLD, Fetched::Twiml(deep))
        })
        .map(|t| t.join());
    // roxmltree keeps its tree flat and the SSML walk is iterative: the text is found.
    let actions = outcome.ok().and_then(|t| t.ok());
    assert_eq!(actions, Some(vec![say("x")]));
}

// Property: random documents answered in random ways never panic, every drain is bounded, a
// playlist never stalls (it either waits for an answer to its last request or has stopped),
// and the number of fetches between two pieces of media heard is bounded.

const FRAGMENTS: &[&str] = &[
    "<Play>a.mp3</Play>",
    "<Play loop=\"0\">/b.wav</Play>",
    "<Play digits=\"12\"/>",
    "<Play>mailto:x</Play>",
    "<Say>hello</Say>",
    "<Say loop=\"3\"><break time=\"1s\"/></Say>",
    "<Pause length=\"2\"/>",
    "<Redirect/>",
    "<Redirect method=\"GET\">/d1</Redirect>",
    "<Redirect>d2</Redirect>",
    "<Redirect>ftp://x/y</Redirect>",
    "<Hangup/>",
    "<Gather><Say>x</Say></Gather>",
    "<Record/>",
    "<Play>",
    "junk",
];

/// How the driver answers a fetch or a piece of media.
#[derive(Debug, Clone)]
enum Answer {
    Document(String),
    Audio,
    Text(String),
    FetchFailed,
    Played,
    PlayFailed,
}

fn answer() -> impl Strategy<Value = Answer> {
    let doc = prop::collection::vec(prop::sample::select(FRAGMENTS), 0..8)
        .prop_map(|parts| format!("<Response>{}</Response>", parts.concat()));
    prop_oneof![
        4 => doc.clone().prop_map(Answer::Document),
        1 => Just(Answer::Audio),
        1 => doc.prop_map(Answer::Text),
        1 => "\\PC{0,40}".prop_map(Answer::Text),
        1 => Just(Answer::FetchFailed),
        6 => Just(Answer::Played),
        2 => Just(Answer::PlayFailed),
    ]
}

fn event_of(answer: Answer) -> PlaylistEvent {
    let final_url = "https://app.test/p/doc".to_owned();
    match answer {
        Answer::Document(text) => PlaylistEvent::Fetched {
            final_url,
            body: Fetched::Twiml(text),
        },
        Answer::Audio => PlaylistEvent::Fetched {
            final_url,
            body: Fetched::Audio,
        },
        Answer::Text(text) => PlaylistEvent::Fetched {
            final_url,
            body: Fetched::Text(text),
        },
        Answer::FetchFailed => PlaylistEvent::FetchFailed {
            code: 11200,
            message: "down".into(),
        },
        Answer::Played => PlaylistEvent::Played,
        Answer::PlayFailed => PlaylistEvent::PlayFailed {
            code: 13420,
            message: "html".into(),
        },
    }
}

/// Drains; returns the last action that waits for an answer, checking the invariants.
fn drain_checked(
    playlist: &mut Playlist,
    stopped: &mut bool,
    fetches_since_media: &mut u32,
) -> Option<PlaylistAction> {
    let mut waiting = None;
    let mut count = 0;
    while let Some(action) = playlist.poll_action() {
        count += 1;
        assert!(count <= 2 * MAX_WARNINGS + 10, "unbounded drain");
        assert!(!*stopped, "an action after the end: {action:?}");
        match &action {
            Finished | PlaylistAction::Failed { .. } => *stopped = true,
            PlaylistAction::Warning(_) => continue,
            PlaylistAction::Fetch { .. } => {
                *fetches_since_media += 1;
                assert!(*fetches_since_media <= MAX_SILENT_DOCUMENTS);
            }
            PlaylistAction::Play { loops, .. } | PlaylistAction::Say { loops, .. } => {
                assert!((1..=LOOP_CAP).contains(loops));
            }
            PlaylistAction::Pause(d) => {
                assert!(!d.is_zero());
                *fetches_since_media = 0;
            }
            PlaylistAction::PlayResponse { .. } => {}
        }
        assert!(
            waiting.is_none(),
            "two requests at once: {waiting:?} {action:?}"
        );
        waiting = Some(action);
    }
    assert_eq!(*stopped, playlist.is_finished());
    waiting.filter(|a| !matches!(a, Finished | PlaylistAction::Failed { .. }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The driver answers every request as a real one would (a fetch with a document, audio,
    /// text or a failure; media with played or failed).
    #[test]
    fn answered_playlists_stay_bounded(answers in prop::collection::vec(answer(), 0..80)) {
        let mut playlist = Playlist::new(PlaylistKind::Wait, HOLD, HttpMethod::Post);
        let (mut stopped, mut fetches) = (false, 0);
        let mut waiting = drain_checked(&mut playlist, &mut stopped, &mut fetches);
        let mut answers = answers.into_iter();
        while let Some(request) = waiting.take() {
            let fetching = matches!(request, PlaylistAction::Fetch { .. });
            let Some(answer) = answers.by_ref().find(|a| {
                fetching == matches!(a, Answer::Document(_) | Answer::Audio | Answer::Text(_)
                    | Answer::FetchFailed)
            }) else {
                break;
            };
            if matches!(answer, Answer::Played) {
                fetches = 0;
            }
            playlist.handle_event(event_of(answer));
            waiting = drain_checked(&mut playlist, &mut stopped, &mut fetches);
            prop_assert!(stopped || waiting.is_some(), "the playlist stalled");
        }
    }

    /// Events in any order, answering nothing in particular, never panic or make a drain unbounded.
    #[test]
    fn random_event_orders_never_panic(answers in prop::collection::vec(answer(), 0..80)) {
        let mut playlist = Playlist::new(PlaylistKind::Announce, HOLD, HttpMethod::Post);
        let mut stopped = false;
        let mut fetches = 0;
        let _ = drain_checked(&mut playlist, &mut stopped, &mut fetches);
        for answer in answers {
            // Media heard resets the driver's own count the way the engine's does.
            if matches!(answer, Answer::Played) {
                fetches = 0;
            }
            playlist.handle_event(event_of(answer));
            let _ = drain_checked(&mut playlist, &mut stopped, &mut fetches);
        }
    }
}
