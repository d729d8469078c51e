//! What each participant hears, checked with tones: every caller sends its own pure tone and a
//! Goertzel detector tells which tones (and which built-in music) each caller's decoded output
//! contains. Runs the mixer through its public API only, with G.711 on both sides.

use confab_media::mixer::{MixerConfig, SourceTarget, WaitAudio};
use confab_media::source::{BEEP_HZ, HOLD_MUSIC_HZ, WAIT_MUSIC_HZ};
use confab_media::tone::{ToneDetector, ToneGenerator};
use confab_media::{
    AudioSource, Codec, Mixer, MixerEvent, MixerParticipantId, SourceId, FRAME_SAMPLES,
};
use std::sync::Arc;

/// Caller tones (Hz), all on the 50 Hz grid and 150 Hz or more apart.
const A: f64 = 450.0;
const B: f64 = 700.0;
const C: f64 = 1000.0;
const D: f64 = 850.0;
const CALLER_TONES: [f64; 4] = [A, B, C, D];

/// A tone counts as heard at or above this level, and as absent below `ABSENT_DBFS`.
const HEARD_DBFS: f64 = -20.0;
const ABSENT_DBFS: f64 = -45.0;

/// Peak level each caller sends at.
const SEND_DBFS: f64 = -12.0;

/// What a participant heard over a listening window.
#[derive(Debug)]
struct Heard {
    /// Mean level of each of [`CALLER_TONES`].
    tones: [f64; 4],
    /// Mean over frames of the strongest hold-music frequency.
    hold: f64,
    /// Mean over frames of the strongest wait-music frequency.
    wait: f64,
    /// Strongest beep frequency in any frame.
    beep: f64,
}

impl Heard {
    fn tone(&self, f: f64) -> f64 {
        let i = CALLER_TONES
            .iter()
            .position(|&t| t == f)
            .expect("a caller tone");
        self.tones[i]
    }

    fn hears(&self, f: f64) -> bool {
        let level = self.tone(f);
        assert!(
            !(ABSENT_DBFS..HEARD_DBFS).contains(&level),
            "tone {f} at an ambiguous {level:.1} dBFS: {self:?}"
        );
        level >= HEARD_DBFS
    }
}

struct Caller {
    id: MixerParticipantId,
    codec: Codec,
    tone: Option<ToneGenerator>,
}

struct Conference {
    mixer: Mixer,
    callers: Vec<Caller>,
    detector: ToneDetector,
    next_source: u32,
}

impl Conference {
    fn new() -> Self {
        let freqs: Vec<f64> = CALLER_TONES
            .iter()
            .chain(&HOLD_MUSIC_HZ)
            .chain(&WAIT_MUSIC_HZ)
            .chain(&BEEP_HZ)
            .copied()
            .collect();
        let mut mixer = Mixer::new(MixerConfig::default());
        mixer.set_started(true);
        Self {
            mixer,
            callers: Vec::new(),
            detector: ToneDetector::new(&freqs),
            next_source: 1,
        }
    }

    /// Adds a caller sending `tone` (or silence) with `codec`; returns its id.
    fn join(&mut self, tone: Option<f64>, codec: Codec) -> MixerParticipantId {
        let id = MixerParticipantId(self.callers.len() as u32 + 1);
        self.mixer.add_participant(id, codec).expect("new id");
        let tone = tone.map(|f| ToneGenerator::with_dbfs(f, SEND_DBFS));
        self.callers.push(Caller { id, codec, tone });
        id
    }

    fn talker(&mut self, tone: f64) -> MixerParticipantId {
        self.join(Some(tone), Codec::Pcmu)
    }

    fn source_id(&mut self) -> SourceId {
        self.next_source += 1;
        SourceId(self.next_source)
    }

    /// One tick: every caller sends its frame as an encoded payload, the mixer mixes.
    fn tick(&mut self) {
        for caller in &mut self.callers {
            let mut pcm = [0i16; FRAME_SAMPLES];
            let Some(tone) = &mut caller.tone else {
                continue;
            };
            tone.fill(&mut pcm);
            let mut payload = [0u8; FRAME_SAMPLES];
            caller.codec.encode(&pcm, &mut payload);
            self.mixer
                .handle_payload(caller.id, &payload)
                .expect("known caller");
        }
        self.mixer.handle_tick();
    }

    /// Decodes what `id` heard on the last tick.
    fn decoded(&self, id: MixerParticipantId) -> [i16; FRAME_SAMPLES] {
        let out = self.mixer.output(id).expect("participant has an output");
        let codec = self
            .callers
            .iter()
            .find(|c| c.id == id)
            .expect("caller")
            .codec;
        let mut pcm = [0i16; FRAME_SAMPLES];
        codec.decode(out.payload(), &mut pcm);
        pcm
    }

    /// Runs `ticks` ticks and reports what each caller heard. The first tick after a command
    /// already reflects it, so nothing is skipped.
    fn listen(&mut self, ticks: usize) -> Vec<Heard> {
        let mut sums = vec![([0.0; 4], 0.0, 0.0, f64::MIN); self.callers.len()];
        for _ in 0..ticks {
            self.tick();
            for (i, caller) in self.callers.iter().enumerate() {
                let pcm = self.decoded(caller.id);
                let levels = self.detector.levels_dbfs(&pcm);
                let max = |range: std::ops::Range<usize>| {
                    levels[range].iter().copied().fold(f64::MIN, f64::max)
                };
                let sum = &mut sums[i];
                for (t, l) in sum.0.iter_mut().zip(levels) {
                    *t += l;
                }
                sum.1 += max(4..8);
                sum.2 += max(8..12);
                sum.3 = sum.3.max(max(12..14));
            }
        }
        let n = ticks as f64;
        sums.into_iter()
            .map(|(tones, hold, wait, beep)| Heard {
                tones: tones.map(|t| t / n),
                hold: hold / n,
                wait: wait / n,
                beep,
            })
            .collect()
    }
}

fn index(id: MixerParticipantId) -> usize {
    id.0 as usize - 1
}

#[test]
fn everyone_hears_the_others_but_not_themselves() {
    let mut conf = Conference::new();
    let ids = [
        conf.talker(A),
        conf.talker(B),
        conf.join(Some(C), Codec::Pcma),
    ];
    let heard = conf.listen(10);
    for (id, own) in ids.iter().zip([A, B, C]) {
        let h = &heard[index(*id)];
        for other in [A, B, C] {
            assert_eq!(h.hears(other), other != own, "{id:?} and {other}: {h:?}");
        }
        assert!(h.hold < ABSENT_DBFS && h.wait < ABSENT_DBFS, "{h:?}");
    }
}

#[test]
fn a_muted_participant_is_not_heard_but_still_hears() {
    let mut conf = Conference::new();
    let (a, b, c) = (conf.talker(A), conf.talker(B), conf.talker(C));
    conf.mixer.set_muted(a, true).unwrap();
    let heard = conf.listen(10);
    assert!(!heard[index(b)].hears(A) && !heard[index(c)].hears(A));
    assert!(heard[index(b)].hears(C) && heard[index(c)].hears(B));
    assert!(heard[index(a)].hears(B) && heard[index(a)].hears(C));
    conf.mixer.set_muted(a, false).unwrap();
    let heard = conf.listen(10);
    assert!(heard[index(b)].hears(A) && heard[index(c)].hears(A));
}

#[test]
fn hold_takes_a_participant_out_both_ways_and_plays_hold_music() {
    let mut conf = Conference::new();
    let (a, b, c) = (conf.talker(A), conf.talker(B), conf.talker(C));
    conf.mixer.set_held(b, true).unwrap();
    let heard = conf.listen(25);
    let held = &heard[index(b)];
    assert!(!held.hears(A) && !held.hears(C), "{held:?}");
    assert!(held.hold > -25.0, "held caller hears hold music: {held:?}");
    for other in [a, c] {
        let h = &heard[index(other)];
        assert!(!h.hears(B), "nobody hears the held caller: {h:?}");
        assert!(h.hold < ABSENT_DBFS, "hold music is private: {h:?}");
    }
    assert!(heard[index(a)].hears(C) && heard[index(c)].hears(A));

    conf.mixer.set_held(b, false).unwrap();
    let heard = conf.listen(10);
    let back = &heard[index(b)];
    assert!(
        back.hears(A) && back.hears(C) && back.hold < ABSENT_DBFS,
        "{back:?}"
    );
    assert!(heard[index(a)].hears(B));
}

#[test]
fn custom_hold_audio_replaces_the_music() {
    let mut conf = Conference::new();
    let (a, b) = (conf.talker(A), conf.talker(B));
    conf.mixer
        .set_hold_audio(b, Some(AudioSource::tone(C, 8000)))
        .unwrap();
    conf.mixer.set_held(b, true).unwrap();
    let heard = conf.listen(10);
    assert!(heard[index(b)].hears(C) && !heard[index(b)].hears(A));
    assert!(heard[index(b)].hold < ABSENT_DBFS);
    assert!(!heard[index(a)].hears(C));
}

#[test]
fn only_the_target_hears_the_coach_and_the_coach_hears_everyone() {
    let mut conf = Conference::new();
    let (a, b, c) = (conf.talker(A), conf.talker(B), conf.talker(C));
    let coach = conf.talker(D);
    conf.mixer.set_coaching(coach, Some(a)).unwrap();
    let heard = conf.listen(10);
    assert!(heard[index(a)].hears(D), "the target hears the coach");
    assert!(heard[index(a)].hears(B) && heard[index(a)].hears(C));
    assert!(
        !heard[index(b)].hears(D) && !heard[index(c)].hears(D),
        "nobody else does"
    );
    let h = &heard[index(coach)];
    assert!(
        h.hears(A) && h.hears(B) && h.hears(C) && !h.hears(D),
        "{h:?}"
    );

    // Coaching=false: the coach barges in and everyone hears it.
    conf.mixer.set_coaching(coach, None).unwrap();
    let heard = conf.listen(10);
    assert!(heard[index(b)].hears(D) && heard[index(c)].hears(D) && heard[index(a)].hears(D));
}

#[test]
fn a_held_target_does_not_hear_its_coach() {
    let mut conf = Conference::new();
    let (a, _b) = (conf.talker(A), conf.talker(B));
    let coach = conf.talker(D);
    conf.mixer.set_coaching(coach, Some(a)).unwrap();
    conf.mixer.set_held(a, true).unwrap();
    let heard = conf.listen(10);
    assert!(!heard[index(a)].hears(D) && heard[index(a)].hold > -25.0);
}

#[test]
fn before_the_start_everyone_hears_wait_music_and_nobody_else() {
    let mut conf = Conference::new();
    conf.mixer.set_started(false);
    let (a, b, c) = (conf.talker(A), conf.talker(B), conf.talker(C));
    conf.mixer.set_wait_audio(c, WaitAudio::Silent).unwrap();
    let heard = conf.listen(20);
    for id in [a, b] {
        let h = &heard[index(id)];
        assert!(h.wait > -25.0 && h.hold < ABSENT_DBFS, "{h:?}");
        assert!(CALLER_TONES.iter().all(|&t| !h.hears(t)), "{h:?}");
    }
    let silent = &heard[index(c)];
    assert!(silent.wait < ABSENT_DBFS && CALLER_TONES.iter().all(|&t| !silent.hears(t)));

    conf.mixer.set_started(true);
    let heard = conf.listen(10);
    let h = &heard[index(a)];
    assert!(h.wait < ABSENT_DBFS && h.hears(B) && h.hears(C), "{h:?}");
}

#[test]
fn the_enter_beep_is_heard_by_the_others_and_not_by_the_joiner() {
    let mut conf = Conference::new();
    let (a, b) = (conf.talker(A), conf.join(None, Codec::Pcma));
    conf.listen(2);
    let joiner = conf.join(None, Codec::Pcmu);
    let beep = conf.source_id();
    let sound = conf.mixer.builtin().enter_beep();
    conf.mixer
        .start_source(beep, SourceTarget::EveryoneExcept(joiner), sound)
        .unwrap();
    let heard = conf.listen(12);
    assert!(
        heard[index(a)].beep > -20.0 && heard[index(b)].beep > -20.0,
        "{heard:?}"
    );
    assert!(
        heard[index(joiner)].beep < ABSENT_DBFS,
        "{:?}",
        heard[index(joiner)]
    );
    assert!(
        heard[index(joiner)].hears(A),
        "the joiner hears the conference"
    );
    assert_eq!(
        conf.mixer.poll_event(),
        Some(MixerEvent::SourceFinished(beep))
    );
    assert_eq!(conf.mixer.poll_event(), None);

    // The exit beep after the joiner leaves reaches everyone still there.
    conf.mixer.remove_participant(joiner).unwrap();
    conf.callers.pop();
    let exit = conf.source_id();
    let sound = conf.mixer.builtin().exit_beep();
    conf.mixer
        .start_source(exit, SourceTarget::Everyone, sound)
        .unwrap();
    let heard = conf.listen(12);
    assert!(heard[index(a)].beep > -20.0 && heard[index(b)].beep > -20.0);
}

#[test]
fn announcements_reach_their_audience_only() {
    let mut conf = Conference::new();
    let (a, b, c) = (
        conf.talker(A),
        conf.join(None, Codec::Pcmu),
        conf.join(None, Codec::Pcma),
    );
    conf.mixer.set_held(c, true).unwrap();
    let private = conf.source_id();
    conf.mixer
        .start_source(
            private,
            SourceTarget::Participant(b),
            AudioSource::tone(D, 8000),
        )
        .unwrap();
    let heard = conf.listen(10);
    assert!(heard[index(b)].hears(D) && heard[index(b)].hears(A));
    assert!(!heard[index(a)].hears(D) && !heard[index(c)].hears(D));
    conf.mixer.stop_source(private).unwrap();

    let samples: Arc<[i16]> = vec![6000i16; 800].into(); // 100 ms of a DC level, played once
    let everyone = conf.source_id();
    conf.mixer
        .start_source(everyone, SourceTarget::Everyone, AudioSource::once(samples))
        .unwrap();
    conf.tick();
    let level = |id| conf.mixer.output(id).unwrap().pcm()[80];
    assert_eq!(
        (level(a), level(c)),
        (6000, 0),
        "heard by all but the held caller"
    );
    assert!(
        (i32::from(level(b)) - 6000).abs() < 8000,
        "b hears it on top of A's tone"
    );
    for _ in 0..4 {
        conf.tick();
    }
    assert_eq!(
        conf.mixer.poll_event(),
        Some(MixerEvent::SourceFinished(everyone))
    );
    conf.tick();
    assert_eq!(conf.mixer.output(a).unwrap().pcm()[80], 0);
}

#[test]
fn listeners_share_one_encoded_frame_per_codec() {
    let mut conf = Conference::new();
    let talker = conf.talker(A);
    let pcmu: Vec<_> = (0..4).map(|_| conf.join(None, Codec::Pcmu)).collect();
    let pcma: Vec<_> = (0..3).map(|_| conf.join(None, Codec::Pcma)).collect();
    conf.tick();
    let stats = conf.mixer.tick_stats();
    assert_eq!(
        (
            stats.contributors,
            stats.private_frames,
            stats.shared_frames
        ),
        (1, 1, 7)
    );
    assert_eq!(
        stats.encodes, 3,
        "the talker's frame plus one shared frame per codec"
    );

    let first = conf.mixer.output(pcmu[0]).unwrap();
    for &id in &pcmu[1..] {
        let out = conf.mixer.output(id).unwrap();
        assert!(
            std::ptr::eq(out.payload(), first.payload()),
            "same bytes, not a copy"
        );
        assert_eq!(out.shared(), first.shared());
    }
    let alaw = conf.mixer.output(pcma[0]).unwrap();
    assert!(alaw.shared().is_some() && alaw.shared() != first.shared());
    assert!(conf.mixer.output(talker).unwrap().shared().is_none());

    // A coached listener and a held one leave the shared frame; the rest keep it.
    let coach = conf.join(None, Codec::Pcmu);
    conf.callers.last_mut().unwrap().tone = Some(ToneGenerator::with_dbfs(D, SEND_DBFS));
    conf.mixer.set_coaching(coach, Some(pcmu[0])).unwrap();
    conf.mixer.set_held(pcmu[1], true).unwrap();
    conf.tick();
    assert!(conf.mixer.output(pcmu[0]).unwrap().shared().is_none());
    assert!(conf.mixer.output(pcmu[1]).unwrap().shared().is_none());
    assert!(conf.mixer.output(pcmu[2]).unwrap().shared().is_some());
    assert!(
        conf.mixer.output(coach).unwrap().shared().is_some(),
        "a coach hears the shared mix"
    );
}

#[test]
fn the_mix_is_clamped_not_wrapped() {
    let mut mixer = Mixer::new(MixerConfig::default());
    mixer.set_started(true);
    let ids = [1, 2, 3].map(MixerParticipantId);
    for id in ids {
        mixer.add_participant(id, Codec::Pcmu).unwrap();
    }
    let loud = [30_000i16; FRAME_SAMPLES];
    let quiet = [-20_000i16; FRAME_SAMPLES];
    mixer.handle_pcm(ids[0], &loud).unwrap();
    mixer.handle_pcm(ids[1], &loud).unwrap();
    mixer.handle_tick();
    assert!(mixer
        .output(ids[2])
        .unwrap()
        .pcm()
        .iter()
        .all(|&s| s == i16::MAX));
    assert!(mixer
        .output(ids[0])
        .unwrap()
        .pcm()
        .iter()
        .all(|&s| s == 30_000));
    let ulaw_max = Codec::Pcmu.encode_sample(i16::MAX);
    assert!(mixer
        .output(ids[2])
        .unwrap()
        .payload()
        .iter()
        .all(|&b| b == ulaw_max));

    for id in ids {
        mixer.handle_pcm(id, &quiet).unwrap();
    }
    mixer.handle_tick();
    for id in ids {
        assert!(
            mixer
                .output(id)
                .unwrap()
                .pcm()
                .iter()
                .all(|&s| s == -32_768),
            "{id:?}"
        );
    }
}

#[test]
fn a_command_is_heard_from_the_next_tick_on() {
    let mut conf = Conference::new();
    let (a, b) = (conf.talker(A), conf.talker(B));
    conf.listen(3);
    conf.mixer.set_muted(a, true).unwrap();
    // The frame of the tick before the command still carries A.
    assert!(confab_media::tone::tone_level_dbfs(&conf.decoded(b), A) > HEARD_DBFS);
    conf.tick();
    assert!(confab_media::tone::tone_level_dbfs(&conf.decoded(b), A) < ABSENT_DBFS);
}
