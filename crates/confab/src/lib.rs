//! The confab server: the HTTP API, conference actors, call legs, and the
//! command line that starts them.

pub mod audio;
pub mod call;
pub mod clock;
pub mod conference;
pub mod config;
pub mod http;
pub mod media;
pub mod server;
pub mod sip;
pub mod state;
pub mod webhook;

pub use http::app;
pub use state::AppState;
