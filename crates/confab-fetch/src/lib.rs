//! The one HTTP client of confab, and the other ways audio gets in.
//!
//! Whatever confab fetches goes through a [`Fetcher`]: the TwiML of a call's
//! `Url`, wait, hold and announce URLs, status callbacks, and `<Play>` files.
//! It behaves the way applications written for Twilio expect: requests are
//! signed with `X-Twilio-Signature`, carry `I-Twilio-Idempotency-Token`, and
//! follow Twilio's redirect, cookie, timeout and retry rules, including the
//! connection overrides of a URL's `#fragment` (parsed in
//! [`confab_core::webhook`]). Failures come back as [`FetchError`]s carrying
//! Twilio's 11xxx/12xxx codes.
//!
//! `<Play>` media goes through a cache that honours the HTTP caching headers
//! and shares concurrent downloads; `<Say>` text is spoken by a local engine
//! ([`Tts`]). Both run off the media threads and the actors, which only ever
//! see finished bodies or samples.

mod cache;
mod client;
mod content;
mod deliver;
mod error;
mod receiver;
mod tts;
mod voices;

pub use cache::MediaBody;
pub use client::{CallCookies, Fetcher, FetcherConfig, WebhookRequest};
pub use content::{Content, Fetched};
pub use deliver::{delivery_host, CallbackRequest, DeliveryReport, ANSWER_READ_LIMIT};
pub use error::{codes, FetchError};
pub use tts::{Tts, TtsAudio, TtsEngine, TtsError, TtsWarning};
