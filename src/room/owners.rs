//! Which part of a room an element belongs to: the one table of element
//! names. Builders name the top element of what they add with
//! [`Owner::name`]; the bus maps a failing element (or any child of it)
//! back to its owner with [`Owner::of`], so one participant's, recording's
//! or ingest's failure tears down that owner only.

use gst::prelude::*;

use crate::ids::{PeerKey, RecordingId};

/// The owner of a room element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A publisher's `webrtcbin` (`pub_<handle>`).
    Publisher(PeerKey),
    /// A subscriber's `webrtcbin` (`sub_<handle>`).
    Subscriber(PeerKey),
    /// A recording or restream branch (`rec_<id>`).
    Recording(RecordingId),
    /// An ingest's source, chains, payloaders and tees (`ingest_<handle>_<part>`).
    Ingest(PeerKey),
    /// The MCU's `level` meter of a publisher's decoded audio (`level_<handle>`).
    Level(PeerKey),
}

/// Name prefixes, one per kind of owner.
const PUBLISHER: &str = "pub_";
const SUBSCRIBER: &str = "sub_";
const RECORDING: &str = "rec_";
const INGEST: &str = "ingest_";
const LEVEL: &str = "level_";

impl Owner {
    /// The element name for this owner; `part` (ingests only) tells its
    /// elements apart: `ingest_<handle>_<part>`.
    pub fn name(self, part: &str) -> String {
        match self {
            Owner::Publisher(h) => format!("{PUBLISHER}{h}"),
            Owner::Subscriber(h) => format!("{SUBSCRIBER}{h}"),
            Owner::Recording(id) => format!("{RECORDING}{id}"),
            Owner::Ingest(h) => format!("{INGEST}{h}_{part}"),
            Owner::Level(h) => format!("{LEVEL}{h}"),
        }
    }

    /// The owner named by one element name, if any.
    pub fn parse(name: &str) -> Option<Owner> {
        let number = |rest: &str| -> Option<u64> {
            let digits: &str = &rest[..rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len())];
            digits.parse().ok()
        };
        if let Some(rest) = name.strip_prefix(PUBLISHER) {
            return rest.parse().ok().map(|h| Owner::Publisher(PeerKey(h)));
        }
        if let Some(rest) = name.strip_prefix(SUBSCRIBER) {
            return rest.parse().ok().map(|h| Owner::Subscriber(PeerKey(h)));
        }
        if let Some(rest) = name.strip_prefix(RECORDING) {
            return rest
                .parse()
                .ok()
                .map(|id| Owner::Recording(RecordingId(id)));
        }
        if let Some(rest) = name.strip_prefix(INGEST) {
            return number(rest).map(|h| Owner::Ingest(PeerKey(h)));
        }
        if let Some(rest) = name.strip_prefix(LEVEL) {
            return rest.parse().ok().map(|h| Owner::Level(PeerKey(h)));
        }
        None
    }

    /// The innermost owner of `src`: itself or its nearest parent with an
    /// owner's name.
    pub fn of(src: Option<&gst::Object>) -> Option<Owner> {
        let mut cur = src.cloned();
        while let Some(o) = cur {
            if let Some(owner) = Owner::parse(&o.name()) {
                return Some(owner);
            }
            cur = o.parent();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for o in [
            Owner::Publisher(PeerKey(7)),
            Owner::Subscriber(PeerKey(1 << 50)),
            Owner::Recording(RecordingId(3)),
            Owner::Ingest(PeerKey(1 << 60)),
            Owner::Level(PeerKey(9)),
        ] {
            assert_eq!(Owner::parse(&o.name("src")), Some(o), "{o:?}");
        }
        assert_eq!(
            Owner::parse("ingest_12_chain_video_3"),
            Some(Owner::Ingest(PeerKey(12)))
        );
        assert_eq!(Owner::parse("tee_12_0"), None);
        assert_eq!(Owner::parse("pub_x"), None);
    }

    #[test]
    fn a_child_belongs_to_its_nearest_named_parent() {
        gst::init().unwrap();
        let bin = gst::Bin::with_name(&Owner::Recording(RecordingId(5)).name(""));
        let child = gst::ElementFactory::make("fakesink").build().unwrap();
        bin.add(&child).unwrap();
        assert_eq!(
            Owner::of(Some(child.upcast_ref())),
            Some(Owner::Recording(RecordingId(5)))
        );
        assert_eq!(Owner::of(None), None);
    }
}
