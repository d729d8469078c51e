//! The media runtime on real loopback sockets: simulated callers' digits and voices reach the
//! conference's back-channel through the media thread.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use confab_media::mixer::SourceTarget;
use confab_media::SourceId;
use confab_media::{Codec, JitterBufferSize, MixerCommand, MixerParticipantId, PayloadType};
use tokio::sync::mpsc::UnboundedReceiver;

use super::*;

fn media() -> Media {
    let config = MediaConfig {
        threads: 1,
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        sim_audio_dir: None,
    };
    Media::start(&config).expect("media runtime")
}

/// Events that arrive within `wait`.
fn collect(events: &mut UnboundedReceiver<MediaEvent>, wait: Duration) -> Vec<MediaEvent> {
    let until = Instant::now() + wait;
    let mut seen = Vec::new();
    while Instant::now() < until {
        match events.try_recv() {
            Ok(event) => seen.push(event),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    seen
}

fn params(peer: &SimPeer, telephone_event: Option<PayloadType>) -> MediaParams {
    MediaParams {
        remote: peer.local_addr(),
        codec: Codec::Pcmu,
        telephone_event,
        jitter: JitterBufferSize::Small,
    }
}

#[test]
fn a_callers_digits_arrive_once_each_in_order() {
    let media = media();
    let (conference, mut events) = media.open_conference_with_events();
    conference.command(MixerCommand::SetStarted(true));
    let caller = media.sims().spawn(SimAudio::Silence).expect("sim");
    let id = MixerParticipantId(1);
    conference.join_with(id, params(&caller, Some(PayloadType::TELEPHONE_EVENT)));
    caller.connect(conference.local_addr());
    assert_eq!(caller.send_digits("12x"), Err(InvalidDigit('x')));
    caller.send_digits("1234567890*#ABCD").expect("digits");
    caller.send_digits("w55").expect("digits");
    // 18 digits of 200 ms and a 500 ms wait: under 5 s.
    let seen = collect(&mut events, Duration::from_secs(6));
    let digits: String = seen
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { id: who, digit } if *who == id => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(digits, "1234567890*#ABCD55");
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, MediaEvent::SpeechStarted(_))),
        "a silent caller never talks: {seen:?}"
    );
}

#[test]
fn digits_without_a_negotiated_type_are_dropped() {
    let media = media();
    let (conference, mut events) = media.open_conference_with_events();
    let caller = media.sims().spawn(SimAudio::Silence).expect("sim");
    conference.join_with(MixerParticipantId(1), params(&caller, None));
    caller.connect(conference.local_addr());
    caller.send_digits("9").expect("digits");
    let seen = collect(&mut events, Duration::from_millis(800));
    assert!(seen.is_empty(), "{seen:?}");
    assert!(media.stats().packets_dropped > 0);
}

#[test]
fn talking_and_finished_sources_are_reported() {
    let media = media();
    let (conference, mut events) = media.open_conference_with_events();
    conference.command(MixerCommand::SetStarted(true));
    let talker = media.sims().spawn(SimAudio::Tone(700.0)).expect("sim");
    let id = MixerParticipantId(7);
    conference.join(
        id,
        talker.local_addr(),
        Codec::Pcmu,
        JitterBufferSize::Small,
    );
    talker.connect(conference.local_addr());
    let beep = conference.builtin().enter_beep();
    conference.command(MixerCommand::StartSource {
        id: SourceId(3),
        target: SourceTarget::Everyone,
        source: beep,
    });
    let seen = collect(&mut events, Duration::from_millis(1000));
    assert!(seen.contains(&MediaEvent::SpeechStarted(id)), "{seen:?}");
    assert!(
        seen.contains(&MediaEvent::SourceFinished(SourceId(3))),
        "{seen:?}"
    );
    drop(talker);
    let seen = collect(&mut events, Duration::from_millis(1000));
    assert!(seen.contains(&MediaEvent::SpeechStopped(id)), "{seen:?}");
}
