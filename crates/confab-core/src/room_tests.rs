//! One test per conference rule and error code, on a virtual clock.

use super::*;
use crate::model::HttpMethod;
use crate::params::Params;
use crate::sid::SidStyle;

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn conference() -> Conference {
    Conference {
        sid: crate::ConferenceSid::mint(SidStyle::Twilio, 1),
        account_sid: crate::AccountSid::mint(SidStyle::Twilio, 1),
        friendly_name: "room".into(),
        status: ConferenceStatus::Init,
        region: "us1".into(),
        date_created: T0,
        date_updated: T0,
        reason_ended: None,
        call_sid_ending: None,
        end_detail: None,
        max_participants: 250,
        announce_url: None,
        announce_method: HttpMethod::Post,
        status_callback: None,
        status_callback_method: HttpMethod::Post,
        status_callback_events: vec![],
        record: "false".into(),
        trim: "trim-silence".into(),
    }
}

fn create(extra: &[(&str, &str)]) -> CreateParticipant {
    let mut p = Params::from_pairs([
        ("From".to_string(), "+15550100".to_string()),
        ("To".into(), "sim:x".into()),
    ]);
    for (k, v) in extra {
        p.push(*k, *v);
    }
    CreateParticipant::parse(&p).expect("valid create")
}

fn update(pairs: &[(&str, &str)]) -> ParticipantUpdate {
    ParticipantUpdate::parse(&Params::from_pairs(
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    ))
    .expect("valid update")
}

fn call(n: u128) -> CallSid {
    CallSid::mint(SidStyle::Twilio, n)
}

/// Adds participant `n` and answers its call.
fn join(room: &mut Room, n: u128, extra: &[(&str, &str)]) -> Outcome {
    room.add_participant(T0, call(n), &create(extra))
        .expect("added");
    room.call_progress(T0, &call(n), CallProgress::Answered)
}

#[test]
fn starts_with_two_connected_and_a_moderator() {
    let mut room = Room::new(conference(), vec![]);
    let first = join(&mut room, 1, &[]);
    assert_eq!(room.conference().status, ConferenceStatus::Init);
    assert!(first.events.contains(&Event::Joined(call(1))));
    let second = join(&mut room, 2, &[]);
    assert_eq!(room.conference().status, ConferenceStatus::InProgress);
    assert!(second.events.contains(&Event::Started));
    assert!(second.conference_changed);
}

#[test]
fn does_not_start_without_a_moderator() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[("StartConferenceOnEnter", "false")]);
    join(&mut room, 2, &[("StartConferenceOnEnter", "false")]);
    assert_eq!(room.conference().status, ConferenceStatus::Init);
    join(&mut room, 3, &[]);
    assert_eq!(room.conference().status, ConferenceStatus::InProgress);
}

#[test]
fn ringing_participants_do_not_start_it() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    room.add_participant(T0, call(2), &create(&[]))
        .expect("added");
    room.call_progress(T0, &call(2), CallProgress::Ringing);
    assert_eq!(room.conference().status, ConferenceStatus::Init);
    assert_eq!(
        room.participant(call(2).as_str()).map(|p| p.status),
        Some(ParticipantStatus::Ringing)
    );
}

#[test]
fn last_participant_leaving_completes_it() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    join(&mut room, 2, &[]);
    room.call_progress(T0, &call(1), CallProgress::HungUp);
    assert_eq!(room.conference().status, ConferenceStatus::InProgress);
    let out = room.call_progress(T0, &call(2), CallProgress::HungUp);
    assert!(room.is_completed());
    assert_eq!(room.conference().reason_ended, Some(EndReason::LastLeft));
    assert_eq!(room.conference().call_sid_ending, Some(call(2)));
    assert_eq!(out.participants[0].status, ParticipantStatus::Complete);
}

#[test]
fn last_participant_kicked_completes_it() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    room.remove_participant(T0, call(1).as_str())
        .expect("kicked");
    assert_eq!(room.conference().reason_ended, Some(EndReason::LastKicked));
    assert_eq!(room.conference().call_sid_ending, Some(call(1)));
}

#[test]
fn end_on_exit_left_removes_everyone() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[("EndConferenceOnExit", "true")]);
    join(&mut room, 2, &[]);
    join(&mut room, 3, &[]);
    let out = room.call_progress(T0, &call(1), CallProgress::HungUp);
    assert_eq!(
        room.conference().reason_ended,
        Some(EndReason::EndOnExitLeft)
    );
    assert_eq!(room.conference().call_sid_ending, Some(call(1)));
    assert!(room.participants().is_empty());
    assert_eq!(out.participants.len(), 3);
    assert!(out
        .participants
        .iter()
        .all(|p| p.status == ParticipantStatus::Complete));
}

#[test]
fn end_on_exit_kicked_has_its_reason() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    join(&mut room, 2, &[("EndConferenceOnExit", "true")]);
    room.remove_participant(T0, call(2).as_str())
        .expect("kicked");
    assert_eq!(
        room.conference().reason_ended,
        Some(EndReason::EndOnExitKicked)
    );
}

#[test]
fn end_on_exit_set_by_update_counts() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    join(&mut room, 2, &[]);
    room.update_participant(
        T0,
        call(1).as_str(),
        &update(&[("EndConferenceOnExit", "true")]),
    )
    .expect("updated");
    room.call_progress(T0, &call(1), CallProgress::HungUp);
    assert_eq!(
        room.conference().reason_ended,
        Some(EndReason::EndOnExitLeft)
    );
}

#[test]
fn api_can_end_it_and_it_never_restarts() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    let end = ConferenceUpdate {
        end: true,
        ..Default::default()
    };
    room.update_conference(T0, &end).expect("ended");
    assert_eq!(room.conference().reason_ended, Some(EndReason::ViaApi));
    assert_eq!(room.conference().call_sid_ending, None);
    let again = room.add_participant(T0, call(9), &create(&[])).unwrap_err();
    assert_eq!(again.code, codes::CONFERENCE_NOT_ACTIVE);
    assert_eq!(
        room.update_conference(T0, &end),
        Ok(Outcome::default()),
        "ending twice is a no-op"
    );
}

#[test]
fn failed_call_leaves_with_failed_status() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    room.add_participant(T0, call(2), &create(&[]))
        .expect("added");
    let out = room.call_progress(T0, &call(2), CallProgress::Busy);
    assert_eq!(out.participants[0].status, ParticipantStatus::Failed);
    assert!(out.events.contains(&Event::Left(
        call(2),
        LeaveReason::AddFailed(CallProgress::Busy)
    )));
    assert!(
        !room.is_completed(),
        "the connected participant is still there"
    );
}

#[test]
fn labels_must_be_valid() {
    let mut room = Room::new(conference(), vec![]);
    let too_long = "x".repeat(129);
    let sid_like = call(7).as_str().to_owned();
    for bad in [
        too_long.as_str(),
        sid_like.as_str(),
        "a/b",
        "a%2Fb",
        "a%2fb",
    ] {
        let err = room
            .add_participant(T0, call(1), &create(&[("Label", bad)]))
            .unwrap_err();
        assert_eq!((err.status, err.code), (400, codes::LABEL_INVALID), "{bad}");
    }
    assert!(room
        .add_participant(T0, call(1), &create(&[("Label", "agent smith")]))
        .is_ok());
}

#[test]
fn labels_must_be_unique_among_active_participants() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[("Label", "customer")]);
    join(&mut room, 2, &[]);
    let err = room
        .add_participant(T0, call(3), &create(&[("Label", "customer")]))
        .unwrap_err();
    assert_eq!(err.code, codes::LABEL_IN_USE);
    room.call_progress(T0, &call(1), CallProgress::HungUp);
    assert!(room
        .add_participant(T0, call(3), &create(&[("Label", "customer")]))
        .is_ok());
    assert_eq!(
        room.participant("customer").map(|p| p.call_sid.clone()),
        Some(call(3))
    );
}

#[test]
fn max_participants_is_enforced() {
    let mut conf = conference();
    conf.max_participants = 2;
    let mut room = Room::new(conf, vec![]);
    join(&mut room, 1, &[]);
    join(&mut room, 2, &[]);
    let err = room.add_participant(T0, call(3), &create(&[])).unwrap_err();
    assert_eq!((err.status, err.code), (400, codes::CONFERENCE_FULL));
}

#[test]
fn coaching_needs_a_target() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    let err = room
        .add_participant(T0, call(2), &create(&[("Coaching", "true")]))
        .unwrap_err();
    assert_eq!((err.status, err.code), (400, 20422));
    assert!(err.message.contains("CallSidToCoach"));
    join(&mut room, 2, &[]);
    let err = room
        .update_participant(T0, call(2).as_str(), &update(&[("Coaching", "true")]))
        .unwrap_err();
    assert_eq!(err.code, 20422);
}

#[test]
fn coach_target_must_be_present_and_not_held() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    join(&mut room, 2, &[]);
    let absent = call(99).as_str().to_owned();
    let err = room
        .update_participant(
            T0,
            call(2).as_str(),
            &update(&[("Coaching", "true"), ("CallSidToCoach", &absent)]),
        )
        .unwrap_err();
    assert_eq!((err.status, err.code), (400, codes::COACH_TARGET_ABSENT));
    room.update_participant(T0, call(1).as_str(), &update(&[("Hold", "true")]))
        .expect("held");
    let target = call(1).as_str().to_owned();
    let err = room
        .update_participant(
            T0,
            call(2).as_str(),
            &update(&[("Coaching", "true"), ("CallSidToCoach", &target)]),
        )
        .unwrap_err();
    assert_eq!((err.status, err.code), (400, codes::COACH_TARGET_ON_HOLD));
    let err = room
        .add_participant(T0, call(3), &create(&[("CallSidToCoach", &target)]))
        .unwrap_err();
    assert_eq!(
        err.code,
        codes::COACH_TARGET_ON_HOLD,
        "create checks the target too"
    );
}

#[test]
fn coaching_is_set_and_cleared() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    let target = call(1).as_str().to_owned();
    let out = room
        .add_participant(T0, call(2), &create(&[("CallSidToCoach", &target)]))
        .expect("coach");
    assert!(
        out.participants[0].coaching,
        "CallSidToCoach alone implies Coaching"
    );
    assert_eq!(out.participants[0].call_sid_to_coach, Some(call(1)));
    let out = room
        .update_participant(T0, call(2).as_str(), &update(&[("Coaching", "false")]))
        .expect("barge");
    assert!(!out.participants[0].coaching);
    assert_eq!(out.participants[0].call_sid_to_coach, None);
    assert!(out.events.contains(&Event::Modified(call(2))));
}

#[test]
fn update_changes_every_seed_field_and_reports_events() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[("Label", "customer")]);
    let out = room
        .update_participant(
            T0,
            "customer",
            &update(&[
                ("Muted", "true"),
                ("Hold", "true"),
                ("HoldUrl", "http://music.test/hold.wav"),
                ("HoldMethod", "POST"),
                ("AnnounceUrl", "http://music.test/a.xml"),
                ("AnnounceMethod", "GET"),
                ("WaitUrl", "http://music.test/wait.xml"),
                ("WaitMethod", "GET"),
                ("BeepOnExit", "false"),
                ("EndConferenceOnExit", "true"),
            ]),
        )
        .expect("updated");
    let p = &out.participants[0];
    assert!(p.muted && p.hold && p.end_conference_on_exit);
    assert_eq!(p.hold_url.as_deref(), Some("http://music.test/hold.wav"));
    assert_eq!(
        (p.hold_method, p.announce_method, p.wait_method),
        (HttpMethod::Post, HttpMethod::Get, HttpMethod::Get)
    );
    assert_eq!(p.beep, Beep::OnEnter);
    assert_eq!(p.wait_url.as_deref(), Some("http://music.test/wait.xml"));
    for event in [
        Event::Muted(call(1), true),
        Event::Held(call(1), true),
        Event::Modified(call(1)),
        Event::AnnounceToParticipant(call(1), "http://music.test/a.xml".into()),
    ] {
        assert!(out.events.contains(&event), "{event:?}");
    }
}

#[test]
fn unknown_participant_is_404() {
    let mut room = Room::new(conference(), vec![]);
    let err = room
        .update_participant(T0, "nobody", &update(&[("Muted", "true")]))
        .unwrap_err();
    assert_eq!((err.status, err.code), (404, 20404));
    assert_eq!(
        room.remove_participant(T0, "nobody").unwrap_err().code,
        20404
    );
}

#[test]
fn conference_announcement_is_an_event() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    let announce = ConferenceUpdate {
        announce_url: Some("http://x.test/a.mp3".into()),
        announce_method: Some(HttpMethod::Get),
        ..Default::default()
    };
    let out = room.update_conference(T0, &announce).expect("announced");
    assert!(out.conference_changed);
    assert_eq!(
        room.conference().announce_url.as_deref(),
        Some("http://x.test/a.mp3")
    );
    assert!(out
        .events
        .contains(&Event::AnnounceToConference("http://x.test/a.mp3".into())));
}

#[test]
fn restart_completes_with_a_recorded_reason() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    let out = room.end_after_restart(T0);
    assert!(room.is_completed());
    assert!(room.conference().end_detail.is_some());
    assert_eq!(out.participants[0].status, ParticipantStatus::Complete);
}

#[test]
fn a_redirected_call_leaves_with_its_reason_and_the_end_rules_apply() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    join(&mut room, 2, &[]);
    join(&mut room, 3, &[("EndConferenceOnExit", "true")]);
    let out = room.redirect_participant(T0, &call(1));
    assert!(out
        .events
        .contains(&Event::Left(call(1), LeaveReason::UpdatedViaApi)));
    assert_eq!(out.participants[0].status, ParticipantStatus::Complete);
    assert!(!room.is_completed());
    assert!(
        room.redirect_participant(T0, &call(1)).events.is_empty(),
        "a call that already left is ignored"
    );
    let out = room.redirect_participant(T0, &call(3));
    assert!(room.is_completed(), "a moderator leaving ends it");
    assert!(out.events.contains(&Event::Ended(EndReason::EndOnExitLeft)));
}

#[test]
fn a_participant_removed_or_ended_while_ringing_is_canceled() {
    let mut room = Room::new(conference(), vec![]);
    join(&mut room, 1, &[]);
    join(&mut room, 2, &[]);
    for n in [3, 4] {
        room.add_participant(T0, call(n), &create(&[]))
            .expect("added");
        room.call_progress(T0, &call(n), CallProgress::Ringing);
    }
    let out = room
        .remove_participant(T0, call(3).as_str())
        .expect("removed");
    assert!(out
        .events
        .contains(&Event::Left(call(3), LeaveReason::Canceled)));
    let kicked = room
        .remove_participant(T0, call(2).as_str())
        .expect("removed");
    assert!(
        kicked
            .events
            .contains(&Event::Left(call(2), LeaveReason::Kicked)),
        "a connected participant is kicked, not canceled"
    );
    let end = ConferenceUpdate {
        end: true,
        ..Default::default()
    };
    let out = room.update_conference(T0, &end).expect("ended");
    assert!(out
        .events
        .contains(&Event::Left(call(4), LeaveReason::Canceled)));
    assert!(out
        .events
        .contains(&Event::Left(call(1), LeaveReason::ConferenceEndedViaApi)));
}
