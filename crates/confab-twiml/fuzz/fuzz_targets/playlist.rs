//! Fuzz target: any bytes as the document a `HoldUrl` answers, then the same bytes as a script
//! of driver events. The playlist may not panic, must produce a bounded number of actions per
//! event, none after its last one, and never more than `MAX_SILENT_DOCUMENTS` fetches without
//! media in between.
//!
//! Run with `cargo +nightly fuzz run playlist corpus/playlist seeds` in `crates/confab-twiml/fuzz`.

#![no_main]

use confab_core::HttpMethod;
use confab_twiml::{
    Fetched, Playlist, PlaylistAction, PlaylistEvent, PlaylistKind, MAX_SILENT_DOCUMENTS,
    MAX_WARNINGS,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut playlist = Playlist::new(PlaylistKind::Hold, "https://app.test/hold", HttpMethod::Get);
    let mut run = Run::default();
    run.drain(&mut playlist);
    for byte in data.iter().take(256) {
        let final_url = String::from("https://app.test/m/doc");
        let event = match byte % 7 {
            0 | 1 => PlaylistEvent::Played,
            2 => PlaylistEvent::PlayFailed {
                code: 13420,
                message: String::new(),
            },
            3 => PlaylistEvent::Fetched {
                final_url,
                body: Fetched::Twiml(text.clone()),
            },
            4 => PlaylistEvent::Fetched {
                final_url,
                body: Fetched::Text(text.clone()),
            },
            5 => PlaylistEvent::Fetched {
                final_url,
                body: Fetched::Audio,
            },
            _ => PlaylistEvent::FetchFailed {
                code: 11200,
                message: String::new(),
            },
        };
        if matches!(event, PlaylistEvent::Played) {
            run.fetches = 0;
        }
        playlist.handle_event(event);
        run.drain(&mut playlist);
    }
});

#[derive(Default)]
struct Run {
    ended: bool,
    /// Fetches since the driver last reported media heard (or a pause began).
    fetches: u32,
}

impl Run {
    fn drain(&mut self, playlist: &mut Playlist) {
        let mut count = 0;
        while let Some(action) = playlist.poll_action() {
            assert!(!self.ended, "an action after the end: {action:?}");
            count += 1;
            assert!(count <= 2 * MAX_WARNINGS + 10, "unbounded actions");
            match action {
                PlaylistAction::Finished | PlaylistAction::Failed { .. } => self.ended = true,
                PlaylistAction::Fetch { .. } => {
                    self.fetches += 1;
                    assert!(self.fetches <= MAX_SILENT_DOCUMENTS, "a redirect loop");
                }
                PlaylistAction::Pause(_) => self.fetches = 0,
                _ => {}
            }
        }
        assert_eq!(self.ended, playlist.is_finished());
    }
}
