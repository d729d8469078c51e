//! What the mixer hands back after a tick: per participant a [`MixerOutput`], which points
//! either at the participant's own frame or at one of the frames shared by all plain listeners.

use crate::{Frame, FRAME_SAMPLES, SILENT_FRAME};

/// Identifies one shared frame of a tick; equal ids mean byte-identical payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SharedFrameId(pub(super) u8);

/// What one participant hears on this tick.
#[derive(Debug, Clone, Copy)]
pub struct MixerOutput<'a> {
    /// The encoded frame, in the participant's codec.
    pub(super) payload: &'a [u8],
    /// The same frame as linear samples (before encoding).
    pub(super) pcm: &'a Frame,
    /// Set when the frame is shared with other participants.
    pub(super) shared: Option<SharedFrameId>,
}

/// A frame that many participants hear.
#[derive(Debug)]
pub(super) struct SharedFrame {
    /// Linear samples, valid when `pcm_ready`.
    pub(super) pcm: Frame,
    /// Encoded per codec index, each valid when its `encoded_ready` flag is set.
    pub(super) encoded: [[u8; FRAME_SAMPLES]; 2],
    /// Whether `pcm` was computed this tick.
    pub(super) pcm_ready: bool,
    /// Whether each encoding was computed this tick.
    pub(super) encoded_ready: [bool; 2],
}

impl<'a> MixerOutput<'a> {
    /// The encoded 20 ms payload to send, in the participant's codec.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The frame as linear samples, as mixed (before encoding).
    pub fn pcm(&self) -> &'a Frame {
        self.pcm
    }

    /// `Some` when the payload is shared: participants with equal ids got the very same bytes
    /// (a driver may build the packet body once).
    pub fn shared(&self) -> Option<SharedFrameId> {
        self.shared
    }
}

impl SharedFrame {
    pub(super) fn new() -> Self {
        Self {
            pcm: SILENT_FRAME,
            encoded: [[0; FRAME_SAMPLES]; 2],
            pcm_ready: false,
            encoded_ready: [false; 2],
        }
    }
}
