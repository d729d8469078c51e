//! Unit tests of the mixer's bookkeeping: commands, errors, events, the activity gate.
//! What participants hear is tested with tones in `tests/mixer_semantics.rs`.

use super::*;
use std::sync::Arc;
use std::time::Duration;

fn id(n: u32) -> MixerParticipantId {
    MixerParticipantId(n)
}

fn started_mixer(participants: u32) -> Mixer {
    let mut mixer = Mixer::new(MixerConfig::default());
    mixer.set_started(true);
    for n in 1..=participants {
        mixer.add_participant(id(n), Codec::Pcmu).unwrap();
    }
    mixer
}

#[test]
fn commands_on_unknown_or_duplicate_ids_are_refused() {
    let mut mixer = started_mixer(2);
    assert_eq!(
        mixer.add_participant(id(1), Codec::Pcma),
        Err(MixerError::DuplicateParticipant(id(1)))
    );
    assert_eq!(
        mixer.set_muted(id(9), true),
        Err(MixerError::UnknownParticipant(id(9)))
    );
    assert_eq!(
        mixer.handle_pcm(id(9), &[0; 160]),
        Err(MixerError::UnknownParticipant(id(9)))
    );
    assert_eq!(
        mixer.set_coaching(id(1), Some(id(1))),
        Err(MixerError::CoachingSelf(id(1)))
    );
    let target = SourceTarget::Participant(id(9));
    assert_eq!(
        mixer.start_source(SourceId(1), target, AudioSource::silence()),
        Err(MixerError::UnknownParticipant(id(9)))
    );
    mixer
        .start_source(SourceId(1), SourceTarget::Everyone, AudioSource::silence())
        .unwrap();
    assert_eq!(
        mixer.start_source(SourceId(1), SourceTarget::Everyone, AudioSource::silence()),
        Err(MixerError::DuplicateSource(SourceId(1)))
    );
    assert_eq!(
        mixer.stop_source(SourceId(2)),
        Err(MixerError::UnknownSource(SourceId(2)))
    );
    assert_eq!(mixer.stop_source(SourceId(1)), Ok(()));
    assert_eq!(mixer.remove_participant(id(2)), Ok(()));
    assert_eq!(
        mixer.remove_participant(id(2)),
        Err(MixerError::UnknownParticipant(id(2)))
    );
    assert_eq!(mixer.participant_count(), 1);
    assert_eq!(
        crate::Error::from(MixerError::CoachingSelf(id(1))).to_string(),
        "mixer: participant 1 cannot coach itself"
    );
}

#[test]
fn handle_command_dispatches_like_the_methods() {
    let mut mixer = Mixer::new(MixerConfig::default());
    let commands = [
        MixerCommand::AddParticipant {
            id: id(5),
            codec: Codec::Pcma,
        },
        MixerCommand::AddParticipant {
            id: id(2),
            codec: Codec::Pcmu,
        },
        MixerCommand::SetStarted(true),
        MixerCommand::SetMuted {
            id: id(5),
            muted: true,
        },
        MixerCommand::SetCoaching {
            id: id(2),
            target: Some(id(5)),
        },
        MixerCommand::SetHoldAudio {
            id: id(2),
            source: None,
        },
        MixerCommand::SetWaitAudio {
            id: id(2),
            wait: WaitAudio::Silent,
        },
        MixerCommand::SetHeld {
            id: id(5),
            held: true,
        },
        MixerCommand::StartSource {
            id: SourceId(3),
            target: SourceTarget::Everyone,
            source: AudioSource::silence(),
        },
        MixerCommand::StopSource(SourceId(3)),
    ];
    for command in commands {
        mixer.handle_command(command).unwrap();
    }
    assert!(mixer.is_started());
    let p = &mixer.participants;
    assert_eq!((p[0].id, p[1].id), (id(2), id(5)), "kept sorted by id");
    assert!(p[1].muted && p[1].held && p[0].coaching == Some(id(5)));
    assert!(matches!(p[0].wait, WaitAudio::Silent));
    assert!(mixer
        .handle_command(MixerCommand::RemoveParticipant(id(7)))
        .is_err());
}

#[test]
fn outputs_appear_after_the_first_tick() {
    let mut mixer = started_mixer(2);
    assert!(mixer.output(id(1)).is_none());
    mixer.handle_tick();
    let ids: Vec<_> = mixer.outputs().map(|(id, _)| id).collect();
    assert_eq!(ids, [id(1), id(2)]);
    mixer.add_participant(id(3), Codec::Pcma).unwrap();
    assert!(mixer.output(id(3)).is_none());
    assert_eq!(mixer.outputs().count(), 2);
    assert!(mixer.output(id(4)).is_none());
}

#[test]
fn silent_input_is_gated_out_after_the_hangover() {
    let mut mixer = started_mixer(2);
    let loud = [1000i16; FRAME_SAMPLES];
    let hiss = [40i16; FRAME_SAMPLES];
    mixer.handle_pcm(id(1), &loud).unwrap();
    mixer.handle_tick();
    assert_eq!(mixer.tick_stats().contributors, 1);
    for _ in 0..10 {
        mixer
            .handle_payload(id(1), &[Codec::Pcmu.encode_sample(40); FRAME_SAMPLES])
            .unwrap();
        mixer.handle_tick();
        assert_eq!(mixer.tick_stats().contributors, 1, "still in the hangover");
    }
    mixer.handle_pcm(id(1), &hiss).unwrap();
    mixer.handle_tick();
    let stats = mixer.tick_stats();
    assert_eq!(
        (stats.contributors, stats.shared_frames, stats.encodes),
        (0, 2, 1)
    );
    // Input is consumed by the tick: nothing given, nothing mixed.
    mixer.handle_pcm(id(1), &loud).unwrap();
    mixer.handle_tick();
    mixer.handle_tick();
    assert_eq!(mixer.tick_stats().contributors, 0);
}

#[test]
fn without_a_gate_every_input_is_mixed() {
    let config = MixerConfig {
        activity_threshold: None,
        ..MixerConfig::default()
    };
    let mut mixer = Mixer::new(config);
    mixer.set_started(true);
    mixer.add_participant(id(1), Codec::Pcma).unwrap();
    mixer
        .handle_payload(id(1), &[Codec::Pcma.silence(); FRAME_SAMPLES])
        .unwrap();
    mixer.handle_tick();
    assert_eq!(mixer.tick_stats().contributors, 1);
}

#[test]
fn short_and_long_payloads_are_padded_or_cut_to_one_frame() {
    let mut mixer = started_mixer(2);
    mixer
        .handle_payload(id(1), &[Codec::Pcmu.encode_sample(8000); 80])
        .unwrap();
    mixer.handle_tick();
    let heard = mixer.output(id(2)).unwrap().pcm();
    assert!(heard[79] > 7000 && heard[80] == 0);
    mixer.handle_payload(id(1), &[0x80; 400]).unwrap();
    mixer.handle_pcm(id(2), &[5; 1000]).unwrap();
    mixer.handle_tick();
    assert_eq!(mixer.output(id(2)).unwrap().payload().len(), FRAME_SAMPLES);
}

#[test]
fn one_shot_hold_and_wait_audio_report_their_end_once() {
    let mut mixer = Mixer::new(MixerConfig::default());
    mixer.add_participant(id(1), Codec::Pcmu).unwrap();
    mixer.add_participant(id(2), Codec::Pcmu).unwrap();
    let short: Arc<[i16]> = vec![100; 200].into();
    mixer
        .set_wait_audio(id(1), WaitAudio::Custom(AudioSource::once(short.clone())))
        .unwrap();
    mixer
        .set_hold_audio(id(2), Some(AudioSource::once(short)))
        .unwrap();
    mixer.set_held(id(2), true).unwrap();
    let mut events = Vec::new();
    for _ in 0..5 {
        mixer.handle_tick();
        events.extend(std::iter::from_fn(|| mixer.poll_event()));
    }
    assert_eq!(
        events,
        [
            MixerEvent::WaitAudioFinished(id(1)),
            MixerEvent::HoldAudioFinished(id(2))
        ]
    );
    // Holding again rewinds the hold audio.
    mixer.set_held(id(2), false).unwrap();
    mixer.set_held(id(2), true).unwrap();
    mixer.handle_tick();
    assert_eq!(mixer.output(id(2)).unwrap().pcm()[0], 100);
}

#[test]
fn removing_a_participant_drops_its_private_sources() {
    let mut mixer = started_mixer(2);
    let tone = AudioSource::tone(500.0, 1000).limited_to(Duration::from_secs(1));
    mixer
        .start_source(SourceId(1), SourceTarget::Participant(id(2)), tone)
        .unwrap();
    mixer
        .start_source(
            SourceId(2),
            SourceTarget::EveryoneExcept(id(2)),
            AudioSource::silence(),
        )
        .unwrap();
    mixer.remove_participant(id(2)).unwrap();
    assert_eq!(mixer.sources.len(), 1);
    mixer.handle_tick();
    assert_eq!(mixer.poll_event(), None);
    assert!(mixer.output(id(1)).unwrap().shared().is_some());
}

#[test]
fn a_coach_without_a_target_is_heard_by_nobody() {
    let mut mixer = started_mixer(2);
    mixer.set_coaching(id(1), Some(id(9))).unwrap();
    mixer.handle_pcm(id(1), &[3000; FRAME_SAMPLES]).unwrap();
    mixer.handle_tick();
    assert_eq!(mixer.tick_stats().contributors, 0);
    assert_eq!(mixer.output(id(2)).unwrap().pcm(), &SILENT_FRAME);
}

#[test]
fn a_streamed_announcement_plays_chunks_as_they_arrive_and_ends_when_told() {
    let mut mixer = started_mixer(1);
    let target = SourceTarget::Participant(id(1));
    mixer
        .start_source(SourceId(5), target, AudioSource::streamed(false))
        .unwrap();
    let heard = |mixer: &Mixer| mixer.output(id(1)).map(|o| o.pcm()[0]);
    // Before any audio: silence, and no end.
    for _ in 0..3 {
        mixer.handle_tick();
        assert_eq!(heard(&mixer), Some(0));
        assert_eq!(mixer.poll_event(), None);
    }
    let chunk: Arc<[i16]> = vec![1000; 320].into();
    let append = MixerCommand::AppendAudio {
        target: StreamTarget::Source(SourceId(5)),
        chunk: chunk.clone(),
        last: false,
    };
    mixer.handle_command(append).unwrap();
    for _ in 0..2 {
        mixer.handle_tick();
        assert_eq!(heard(&mixer), Some(1000));
    }
    // Underrun: silence again, still playing.
    mixer.handle_tick();
    assert_eq!(heard(&mixer), Some(0));
    assert_eq!(mixer.poll_event(), None);
    mixer
        .append_audio(StreamTarget::Source(SourceId(5)), chunk, true)
        .unwrap();
    mixer.handle_tick();
    assert_eq!(mixer.poll_event(), None);
    mixer.handle_tick();
    assert_eq!(heard(&mixer), Some(1000));
    assert_eq!(
        mixer.poll_event(),
        Some(MixerEvent::SourceFinished(SourceId(5)))
    );
    assert_eq!(
        mixer.append_audio(StreamTarget::Source(SourceId(5)), vec![1].into(), true),
        Err(MixerError::UnknownSource(SourceId(5)))
    );
}

#[test]
fn streamed_hold_and_wait_audio_are_fed_through_the_mixer() {
    let mut mixer = Mixer::new(MixerConfig::default());
    mixer.add_participant(id(1), Codec::Pcmu).unwrap();
    mixer.add_participant(id(2), Codec::Pcmu).unwrap();
    mixer
        .set_wait_audio(id(1), WaitAudio::Custom(AudioSource::streamed(false)))
        .unwrap();
    let wait = StreamTarget::Wait(id(1));
    mixer
        .append_audio(wait, vec![500; 160].into(), true)
        .unwrap();
    mixer.handle_tick();
    assert_eq!(mixer.output(id(1)).map(|o| o.pcm()[10]), Some(500));
    assert_eq!(
        mixer.poll_event(),
        Some(MixerEvent::WaitAudioFinished(id(1)))
    );
    assert_eq!(
        mixer.append_audio(StreamTarget::Wait(id(2)), vec![1].into(), false),
        Err(MixerError::NotStreamed(StreamTarget::Wait(id(2)))),
        "default wait music is not a stream"
    );
    mixer.set_started(true);
    mixer
        .set_hold_audio(id(2), Some(AudioSource::streamed(true)))
        .unwrap();
    mixer.set_held(id(2), true).unwrap();
    let hold = StreamTarget::Hold(id(2));
    mixer
        .append_audio(hold, vec![700; 100].into(), true)
        .unwrap();
    for _ in 0..3 {
        mixer.handle_tick();
        assert_eq!(mixer.output(id(2)).map(|o| o.pcm()[0]), Some(700));
    }
    assert_eq!(mixer.poll_event(), None, "looping hold audio never ends");
    assert_eq!(
        mixer.append_audio(hold, vec![1].into(), true),
        Err(MixerError::NotStreamed(hold)),
        "complete"
    );
    assert_eq!(
        mixer.append_audio(StreamTarget::Hold(id(9)), vec![1].into(), true),
        Err(MixerError::UnknownParticipant(id(9)))
    );
}
