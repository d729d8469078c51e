//! The conference state machine.
//!
//! A [`Room`] is one live conference and its active participants. Every
//! operation takes the current time, checks the rules of Twilio's conference
//! model and returns an [`Outcome`]: the records that changed (for the store)
//! and the [`Event`]s that happened (for the mixer, call legs and callbacks).
//! The rules, in short:
//!
//! - a conference is `init` until at least two participants are connected and
//!   one of them has `StartConferenceOnEnter`; then it is `in-progress`;
//! - it completes when the last participant leaves or is kicked, when one with
//!   `EndConferenceOnExit` leaves or is kicked (everyone else is removed), or
//!   when the API ends it; a completed conference never restarts;
//! - labels are at most 128 characters, not call-SID-like, free of `/`, and
//!   unique among active participants;
//! - a coach needs a target that is present and not on hold;
//! - `MaxParticipants` bounds the active participants.

use crate::error::{codes, ApiError};
use crate::model::{Beep, Conference, ConferenceStatus, EndReason, Participant, ParticipantStatus};
use crate::request::{ConferenceUpdate, CreateParticipant, ParticipantUpdate};
use crate::sid::{looks_like_call_sid, CallSid};
use crate::time::Timestamp;

/// How a participant's call progressed, reported by whoever places it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallProgress {
    /// The call is being placed.
    Connecting,
    /// The far end rings.
    Ringing,
    /// The far end answered: the participant joins.
    Answered,
    /// The far end was busy.
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// The call could not be placed.
    Failed,
    /// The far end hung up after answering.
    HungUp,
}

/// Why a participant left, in the words of `ReasonParticipantLeft`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// The caller hung up.
    HungUp,
    /// Removed through the API.
    Kicked,
    /// The conference was ended through the API.
    ConferenceEndedViaApi,
    /// A participant with `EndConferenceOnExit` left.
    ModeratorEnded,
    /// The call never connected.
    AddFailed(CallProgress),
    /// Update Call sent the call elsewhere (`participant_updated_via_api`).
    UpdatedViaApi,
    /// Removed through the API, or its conference ended, while its call had not connected
    /// yet: the call is canceled.
    Canceled,
}

/// Something that happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The participant's call status changed.
    CallStatus(CallSid, ParticipantStatus),
    /// A participant joined the conference audio.
    Joined(CallSid),
    /// A participant left.
    Left(CallSid, LeaveReason),
    /// The conference started mixing.
    Started,
    /// The conference ended.
    Ended(EndReason),
    /// Mute changed.
    Muted(CallSid, bool),
    /// Hold changed.
    Held(CallSid, bool),
    /// Coaching, its target, `BeepOnExit`, `EndConferenceOnExit` or `WaitUrl` changed.
    Modified(CallSid),
    /// Play an announcement to one participant.
    AnnounceToParticipant(CallSid, String),
    /// Play an announcement to everyone.
    AnnounceToConference(String),
}

/// The result of one operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the conference record changed.
    pub conference_changed: bool,
    /// Participant records that changed, in their new state (departed
    /// participants appear here once, with their final status).
    pub participants: Vec<Participant>,
    /// What happened.
    pub events: Vec<Event>,
}

/// One live conference and its active participants.
#[derive(Debug, Clone)]
pub struct Room {
    conference: Conference,
    participants: Vec<Participant>,
}

impl Room {
    /// A room for a conference and the participants still active in it.
    pub fn new(conference: Conference, participants: Vec<Participant>) -> Room {
        let participants = participants
            .into_iter()
            .filter(|p| p.status.is_active())
            .collect();
        Room {
            conference,
            participants,
        }
    }

    /// The conference record.
    pub fn conference(&self) -> &Conference {
        &self.conference
    }

    /// Active participants, in joining order.
    pub fn participants(&self) -> &[Participant] {
        &self.participants
    }

    /// The active participant named by a call SID or label.
    pub fn participant(&self, key: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.is_named(key))
    }

    /// Whether the conference has completed.
    pub fn is_completed(&self) -> bool {
        self.conference.status == ConferenceStatus::Completed
    }

    /// Adds a participant whose call is about to be placed. `call_sid` is
    /// freshly minted by the caller.
    pub fn add_participant(
        &mut self,
        now: Timestamp,
        call_sid: CallSid,
        req: &CreateParticipant,
    ) -> Result<Outcome, ApiError> {
        self.ensure_live()?;
        if self.participants.len() >= self.conference.max_participants as usize {
            return Err(ApiError::conference_rule(
                codes::CONFERENCE_FULL,
                format!(
                    "Conference is full: it allows {} participants",
                    self.conference.max_participants
                ),
            ));
        }
        if let Some(label) = &req.label {
            self.check_label(label)?;
        }
        let (coaching, call_sid_to_coach) = self.coaching_for_create(req)?;
        let participant = Participant {
            call_sid,
            conference_sid: self.conference.sid.clone(),
            account_sid: self.conference.account_sid.clone(),
            label: req.label.clone(),
            status: ParticipantStatus::Queued,
            muted: req.muted,
            hold: false,
            coaching,
            call_sid_to_coach,
            start_conference_on_enter: req.start_conference_on_enter,
            end_conference_on_exit: req.end_conference_on_exit,
            beep: req.beep,
            hold_url: None,
            hold_method: crate::HttpMethod::Get,
            announce_url: None,
            announce_method: crate::HttpMethod::Post,
            wait_url: req.wait_url.clone(),
            wait_method: req.wait_method,
            jitter_buffer_size: req.jitter_buffer_size,
            record: req.record,
            queue_time_ms: Some(0),
            date_created: now,
            date_updated: now,
        };
        self.participants.push(participant.clone());
        Ok(Outcome {
            participants: vec![participant],
            ..Outcome::default()
        })
    }

    /// Applies call progress for a participant's call. Progress for a call
    /// that is no longer active is ignored.
    pub fn call_progress(
        &mut self,
        now: Timestamp,
        call_sid: &CallSid,
        progress: CallProgress,
    ) -> Outcome {
        let mut out = Outcome::default();
        let Some(index) = self.index_of(call_sid.as_str()) else {
            return out;
        };
        let status = match progress {
            CallProgress::Connecting => ParticipantStatus::Connecting,
            CallProgress::Ringing => ParticipantStatus::Ringing,
            CallProgress::Answered => ParticipantStatus::Connected,
            CallProgress::HungUp => {
                self.depart(now, index, LeaveReason::HungUp, &mut out);
                return out;
            }
            CallProgress::Busy | CallProgress::NoAnswer | CallProgress::Failed => {
                self.depart(now, index, LeaveReason::AddFailed(progress), &mut out);
                return out;
            }
        };
        let p = &mut self.participants[index];
        if p.status == status || p.status == ParticipantStatus::Connected {
            return out;
        }
        p.status = status;
        p.date_updated = now;
        out.events
            .push(Event::CallStatus(p.call_sid.clone(), status));
        if status == ParticipantStatus::Connected {
            out.events.push(Event::Joined(p.call_sid.clone()));
        }
        out.participants.push(p.clone());
        self.maybe_start(now, &mut out);
        out
    }

    /// Applies Update Participant to the participant named by `key`.
    pub fn update_participant(
        &mut self,
        now: Timestamp,
        key: &str,
        update: &ParticipantUpdate,
    ) -> Result<Outcome, ApiError> {
        let index = self
            .index_of(key)
            .ok_or_else(|| participant_not_found(key))?;
        let coaching = self.coaching_for_update(index, update)?;
        let mut out = Outcome::default();
        let p = &mut self.participants[index];
        let sid = p.call_sid.clone();
        if let Some(muted) = update.muted.filter(|m| *m != p.muted) {
            p.muted = muted;
            out.events.push(Event::Muted(sid.clone(), muted));
        }
        if let Some(hold) = update.hold.filter(|h| *h != p.hold) {
            p.hold = hold;
            out.events.push(Event::Held(sid.clone(), hold));
        }
        if let Some(url) = &update.hold_url {
            p.hold_url = url.clone();
        }
        if let Some(method) = update.hold_method {
            p.hold_method = method;
        }
        if let Some(method) = update.announce_method {
            p.announce_method = method;
        }
        if let Some(method) = update.wait_method {
            p.wait_method = method;
        }
        let before = (
            p.coaching,
            p.call_sid_to_coach.clone(),
            p.beep,
            p.end_conference_on_exit,
            p.wait_url.clone(),
        );
        if let Some(url) = &update.wait_url {
            p.wait_url = Some(url.clone());
        }
        if let Some(on_exit) = update.beep_on_exit {
            p.beep = with_exit_beep(p.beep, on_exit);
        }
        if let Some(end) = update.end_conference_on_exit {
            p.end_conference_on_exit = end;
        }
        if let Some((coaching, target)) = coaching {
            p.coaching = coaching;
            p.call_sid_to_coach = target;
        }
        if before
            != (
                p.coaching,
                p.call_sid_to_coach.clone(),
                p.beep,
                p.end_conference_on_exit,
                p.wait_url.clone(),
            )
        {
            out.events.push(Event::Modified(sid.clone()));
        }
        if let Some(url) = &update.announce_url {
            p.announce_url = Some(url.clone());
            out.events
                .push(Event::AnnounceToParticipant(sid, url.clone()));
        }
        p.date_updated = now;
        out.participants.push(p.clone());
        Ok(out)
    }

    /// Removes (kicks) the participant named by `key`.
    pub fn remove_participant(&mut self, now: Timestamp, key: &str) -> Result<Outcome, ApiError> {
        let index = self
            .index_of(key)
            .ok_or_else(|| participant_not_found(key))?;
        let mut out = Outcome::default();
        self.depart(now, index, LeaveReason::Kicked, &mut out);
        Ok(out)
    }

    /// The participant's call was redirected through Update Call: it leaves the conference,
    /// which the end rules treat as the participant leaving. Unknown calls are ignored.
    pub fn redirect_participant(&mut self, now: Timestamp, call_sid: &CallSid) -> Outcome {
        let mut out = Outcome::default();
        if let Some(index) = self.index_of(call_sid.as_str()) {
            self.depart(now, index, LeaveReason::UpdatedViaApi, &mut out);
        }
        out
    }

    /// Applies Update Conference.
    pub fn update_conference(
        &mut self,
        now: Timestamp,
        update: &ConferenceUpdate,
    ) -> Result<Outcome, ApiError> {
        if self.is_completed() {
            update.check_completed()?;
            return Ok(Outcome::default());
        }
        let mut out = Outcome::default();
        if let Some(method) = update.announce_method {
            self.conference.announce_method = method;
            out.conference_changed = true;
        }
        if let Some(url) = &update.announce_url {
            self.conference.announce_url = Some(url.clone());
            out.conference_changed = true;
            out.events.push(Event::AnnounceToConference(url.clone()));
        }
        if update.end {
            self.end(now, EndReason::ViaApi, None, &mut out);
        } else if out.conference_changed {
            self.conference.date_updated = now;
        }
        Ok(out)
    }

    /// Ends the conference because the server stopped while it was live.
    pub fn end_after_restart(&mut self, now: Timestamp) -> Outcome {
        let mut out = Outcome::default();
        if !self.is_completed() {
            self.conference.end_detail =
                Some("confab restarted while the conference was live".into());
            self.end(now, EndReason::LastLeft, None, &mut out);
        }
        out
    }

    fn ensure_live(&self) -> Result<(), ApiError> {
        if self.is_completed() {
            return Err(ApiError::conference_rule(
                codes::CONFERENCE_NOT_ACTIVE,
                format!(
                    "Conference {} does not exist or is completed",
                    self.conference.sid
                ),
            ));
        }
        Ok(())
    }

    fn index_of(&self, key: &str) -> Option<usize> {
        self.participants.iter().position(|p| p.is_named(key))
    }

    fn check_label(&self, label: &str) -> Result<(), ApiError> {
        let lower = label.to_ascii_lowercase();
        if label.chars().count() > 128
            || looks_like_call_sid(label)
            || label.contains('/')
            || lower.contains("%2f")
        {
            return Err(ApiError::conference_rule(
                codes::LABEL_INVALID,
                "Participant label invalid: at most 128 characters, not a call SID, and no '/'",
            ));
        }
        if self
            .participants
            .iter()
            .any(|p| p.label.as_deref() == Some(label))
        {
            return Err(ApiError::conference_rule(
                codes::LABEL_IN_USE,
                format!("Participant label {label:?} is in use by another participant"),
            ));
        }
        Ok(())
    }

    fn coaching_for_create(
        &self,
        req: &CreateParticipant,
    ) -> Result<(bool, Option<CallSid>), ApiError> {
        match (req.coaching, &req.call_sid_to_coach) {
            (Some(false), _) | (None, None) => Ok((false, None)),
            (Some(true), None) => Err(coach_target_required()),
            (_, Some(target)) => Ok((true, Some(self.coach_target(target, None)?))),
        }
    }

    /// The coaching state an update asks for, `None` if it leaves it alone.
    fn coaching_for_update(
        &self,
        index: usize,
        u: &ParticipantUpdate,
    ) -> Result<Option<(bool, Option<CallSid>)>, ApiError> {
        let me = &self.participants[index];
        let target = match (u.coaching, &u.call_sid_to_coach) {
            (None, None) => return Ok(None),
            (Some(false), _) => return Ok(Some((false, None))),
            (_, Some(target)) => target.clone(),
            (Some(true), None) => match &me.call_sid_to_coach {
                Some(existing) => existing.as_str().to_owned(),
                None => return Err(coach_target_required()),
            },
        };
        Ok(Some((
            true,
            Some(self.coach_target(&target, Some(&me.call_sid))?),
        )))
    }

    fn coach_target(&self, target: &str, coach: Option<&CallSid>) -> Result<CallSid, ApiError> {
        let found = self
            .participants
            .iter()
            .find(|p| {
                p.call_sid.as_str().eq_ignore_ascii_case(target) && Some(&p.call_sid) != coach
            })
            .ok_or_else(|| {
                ApiError::conference_rule(
                    codes::COACH_TARGET_ABSENT,
                    format!(
                        "Participant to be coached ({target}) is not present in the conference"
                    ),
                )
            })?;
        if found.hold {
            return Err(ApiError::conference_rule(
                codes::COACH_TARGET_ON_HOLD,
                format!("Participant to be coached ({target}) is on hold"),
            ));
        }
        Ok(found.call_sid.clone())
    }

    fn maybe_start(&mut self, now: Timestamp, out: &mut Outcome) {
        if self.conference.status != ConferenceStatus::Init {
            return;
        }
        let connected = self
            .participants
            .iter()
            .filter(|p| p.status == ParticipantStatus::Connected);
        let (count, moderator) = connected.fold((0, false), |(n, m), p| {
            (n + 1, m || p.start_conference_on_enter)
        });
        if count >= 2 && moderator {
            self.conference.status = ConferenceStatus::InProgress;
            self.conference.date_updated = now;
            out.conference_changed = true;
            out.events.push(Event::Started);
        }
    }

    /// Takes participant `index` out and applies the end rules.
    fn depart(&mut self, now: Timestamp, index: usize, reason: LeaveReason, out: &mut Outcome) {
        let mut p = self.participants.remove(index);
        let was_connected = p.status == ParticipantStatus::Connected;
        let kicked = reason == LeaveReason::Kicked;
        let reason = if kicked && !was_connected {
            LeaveReason::Canceled
        } else {
            reason
        };
        p.status = match reason {
            LeaveReason::AddFailed(_) => ParticipantStatus::Failed,
            _ => ParticipantStatus::Complete,
        };
        p.date_updated = now;
        let ends_all = p.end_conference_on_exit && (was_connected || kicked);
        let sid = p.call_sid.clone();
        out.events.push(Event::CallStatus(sid.clone(), p.status));
        out.events.push(Event::Left(sid.clone(), reason));
        out.participants.push(p);
        let end_reason = match (ends_all, self.participants.is_empty(), kicked) {
            (true, _, false) => EndReason::EndOnExitLeft,
            (true, _, true) => EndReason::EndOnExitKicked,
            (false, true, false) => EndReason::LastLeft,
            (false, true, true) => EndReason::LastKicked,
            (false, false, _) => return,
        };
        self.end(now, end_reason, Some(sid), out);
    }

    /// Completes the conference and removes everyone still in it.
    fn end(
        &mut self,
        now: Timestamp,
        reason: EndReason,
        ending_call: Option<CallSid>,
        out: &mut Outcome,
    ) {
        let leave = match reason {
            EndReason::ViaApi => LeaveReason::ConferenceEndedViaApi,
            _ => LeaveReason::ModeratorEnded,
        };
        for mut p in self.participants.drain(..) {
            let leave = if p.status == ParticipantStatus::Connected {
                leave
            } else {
                LeaveReason::Canceled
            };
            p.status = ParticipantStatus::Complete;
            p.date_updated = now;
            out.events
                .push(Event::CallStatus(p.call_sid.clone(), p.status));
            out.events.push(Event::Left(p.call_sid.clone(), leave));
            out.participants.push(p);
        }
        self.conference.status = ConferenceStatus::Completed;
        self.conference.reason_ended = Some(reason);
        self.conference.call_sid_ending = ending_call;
        self.conference.date_updated = now;
        out.conference_changed = true;
        out.events.push(Event::Ended(reason));
    }
}

fn with_exit_beep(beep: Beep, on_exit: bool) -> Beep {
    match (beep.on_enter(), on_exit) {
        (true, true) => Beep::True,
        (true, false) => Beep::OnEnter,
        (false, true) => Beep::OnExit,
        (false, false) => Beep::False,
    }
}

fn participant_not_found(key: &str) -> ApiError {
    ApiError::new(
        404,
        20404,
        format!("The requested participant {key} was not found in the conference"),
    )
}

/// A request error rather than a malformed value, so 400 in both dialects.
fn coach_target_required() -> ApiError {
    ApiError::new(
        400,
        20422,
        "CallSidToCoach is required when Coaching is true",
    )
}

#[cfg(test)]
#[path = "room_tests.rs"]
mod tests;
