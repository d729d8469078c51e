//! Domain rules of confab, free of I/O.
//!
//! This crate knows what a conference, a participant and an account are, how
//! untrusted request parameters become typed values, and which rule of the
//! Twilio 2010-04-01 Conference API applies when. It never reads the clock,
//! never touches a socket or a file and never spawns: the caller passes the
//! current time and fresh randomness in. That keeps every rule testable with a
//! table of plain unit tests.

pub mod call;
pub mod call_request;
pub mod callback;
pub mod endpoint;
pub mod error;
pub mod model;
pub mod page;
pub mod params;
pub mod phone_number;
pub mod phone_number_request;
pub mod request;
pub mod room;
pub mod sid;
pub mod status_callback;
pub mod time;
pub mod webhook;

pub use call::{Call, CallStatus, Direction};
pub use error::ApiError;
pub use model::{
    Account, Beep, Conference, ConferenceStatus, EndReason, HttpMethod, JitterBufferSize,
    Participant, ParticipantStatus,
};
pub use phone_number::{PhoneNumber, E164};
pub use sid::{AccountSid, CallSid, ConferenceSid, PhoneNumberSid, Sid, SidKind, SidStyle};
pub use time::Timestamp;
