//! Negotiations run off the room task: `webrtcbin` promises (set a remote
//! description, create an offer or answer) are awaited by small tasks that
//! touch only their `webrtcbin` and post the result back as a
//! [`RoomEvent`]. The task keeps serving other participants meanwhile, and
//! continues each negotiation from here when its result arrives, checking
//! again that its participant is still there.

use super::*;

/// A command waiting for a negotiation: what it will need, and its reply.
pub(super) struct Waiting<S, T> {
    /// What the continuation needs.
    pub(super) state: S,
    /// The command's reply.
    pub(super) reply: Reply<T>,
}

/// A publisher's offer being answered.
pub(super) struct PendingPublish {
    pub(super) h: HandleId,
    pub(super) params: PublishParams,
    pub(super) offered: Vec<sdp::OfferedStream>,
    pub(super) peer: Peer,
    /// A new offer on a published handle (tracks added, removed or
    /// replaced), not a first publish.
    pub(super) renegotiation: bool,
}

/// What a subscriber's new offer is for.
pub(super) enum OfferFor {
    /// `join` as subscriber: answered `attached`.
    Attach(Reply<Offered>),
    /// `update`/`subscribe`/`unsubscribe`: answered `updated`.
    Update(Reply<Offered>),
    /// A feed left: the subscriber is told (`updated` notice).
    Notice,
}

/// The negotiations in flight, by handle (one at a time per handle).
#[derive(Default)]
pub(super) struct Negotiations {
    /// Publishers' offers being answered.
    pub(super) publish: HashMap<PeerKey, Waiting<PendingPublish, Option<Published>>>,
    /// Subscribers' offers being made.
    pub(super) offers: HashMap<PeerKey, OfferFor>,
    /// Subscribers' answers being applied (`start`).
    pub(super) answers: HashMap<PeerKey, Reply<()>>,
}

impl Negotiations {
    /// Publications being negotiated (they count against `publishers`).
    pub(super) fn publishing(&self) -> usize {
        self.publish.len()
    }
}
