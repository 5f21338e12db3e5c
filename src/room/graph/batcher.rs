//! A subscriber `webrtcbin`'s aux sender (its `request-aux-sender`
//! signal): the RTP packets of one video frame leave as one buffer list, so
//! everything after it (`srtpenc`, `funnel`, `nicesink`) handles them in one
//! push, and `nicesink` sends them with one `sendmmsg` (libnice's
//! `nice_agent_send_messages_nonblocking`).
//!
//! In 1.22 every packet pushed into `webrtcbin` is split into single
//! buffers by `rtpulpfecenc`/`rtpredenc` (they have no `chain_list`); the
//! aux sender is the one public hook after that split, right after
//! `rtprtxsend`.
//!
//! An SSRC is taken as video once two packets in a row carry its SSRC and
//! the same RTP timestamp (a frame in several packets; audio has one
//! packet per timestamp), so no payload type needs to be known. A video
//! packet is held until its frame ends (the RTP marker bit), and at most
//! [`MAX_BATCH`] packets. Anything else flushes what is held first, so
//! the order is kept: a packet of another SSRC (audio, RTX), another RTP
//! timestamp (a frame whose marker was lost), an event. Audio and RTX go
//! out at once. No timer: a frame's packets come from the publisher's jitter
//! buffer back to back, so holding costs at most that frame's arrival spread.

use std::sync::{Arc, Mutex};

use gst::prelude::*;

/// The most packets held in one batch (UDP `sendmmsg` takes up to 1024;
/// a 720p keyframe is about 100 packets of 1200 bytes).
pub const MAX_BATCH: usize = 64;

/// What is held: the frame's SSRC and timestamp, and its packets; the
/// SSRCs known to be video, and the last packet's (SSRC, timestamp).
#[derive(Default)]
struct Held {
    key: Option<(u32, u32)>,
    list: Option<gst::BufferList>,
    video: Vec<u32>,
    last: Option<(u32, u32)>,
}

/// (SSRC, timestamp, marker) of an RTP packet.
fn rtp_fields(buf: &gst::BufferRef) -> Option<(u32, u32, bool)> {
    let mut head = [0u8; 12];
    if buf.copy_to_slice(0, &mut head).is_err() || head[0] >> 6 != 2 {
        return None;
    }
    let marker = head[1] & 0x80 != 0;
    let ts = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    let ssrc = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
    Some((ssrc, ts, marker))
}

/// The other pad of the pair, once set.
#[derive(Clone, Default)]
struct Peer(Arc<std::sync::OnceLock<glib::WeakRef<gst::Pad>>>);

impl Peer {
    fn set(&self, pad: &gst::Pad) {
        let _ = self.0.set(pad.downgrade());
    }

    fn upgrade(&self) -> Option<gst::Pad> {
        self.0.get().and_then(|w| w.upgrade())
    }
}

/// Builds the aux sender: a bin with a `sink` and a `src` pad (as
/// `webrtcbin` asks of one).
pub fn new() -> gst::Element {
    let bin = gst::Bin::new();
    let held = Arc::new(Mutex::new(Held::default()));
    // Each pad reaches the other through a weak ref set once both exist.
    let src_weak = Peer::default();
    let sink_cell = Peer::default();
    let push_held = {
        let held = held.clone();
        let src = src_weak.clone();
        move || -> Result<gst::FlowSuccess, gst::FlowError> {
            // The list and its key leave together, under one lock.
            let list = {
                let mut h = held.lock().unwrap_or_else(|e| e.into_inner());
                h.key = None;
                h.list.take()
            };
            let (Some(list), Some(src)) = (list, src.upgrade()) else {
                return Ok(gst::FlowSuccess::Ok);
            };
            src.push_list(list)
        }
    };
    let sink = gst::Pad::builder(gst::PadDirection::Sink)
        .name("sink")
        .chain_function({
            let held = held.clone();
            let src = src_weak.clone();
            let push_held = push_held.clone();
            move |_, _, buf| {
                let Some(src) = src.upgrade() else {
                    return Err(gst::FlowError::Flushing);
                };
                let fields = rtp_fields(&buf);
                let video = fields.is_some_and(|(ssrc, ts, _)| {
                    let mut h = held.lock().unwrap_or_else(|e| e.into_inner());
                    if h.last == Some((ssrc, ts)) && !h.video.contains(&ssrc) {
                        h.video.push(ssrc);
                    }
                    h.last = Some((ssrc, ts));
                    h.video.contains(&ssrc)
                });
                let Some((ssrc, ts, marker)) = fields.filter(|_| video) else {
                    push_held()?;
                    return src.push(buf);
                };
                let full = {
                    let mut h = held.lock().unwrap_or_else(|e| e.into_inner());
                    if h.key.is_some_and(|k| k != (ssrc, ts)) {
                        drop(h);
                        push_held()?;
                        h = held.lock().unwrap_or_else(|e| e.into_inner());
                    }
                    h.key = Some((ssrc, ts));
                    let list = h.list.get_or_insert_with(gst::BufferList::new);
                    list.get_mut()
                        // Invariant: the list is ours alone until pushed.
                        .map(|l| l.add(buf))
                        .ok_or(gst::FlowError::Error)?;
                    marker || list.len() >= MAX_BATCH
                };
                if full {
                    push_held()
                } else {
                    Ok(gst::FlowSuccess::Ok)
                }
            }
        })
        .chain_list_function({
            let src = src_weak.clone();
            let push_held = push_held.clone();
            move |_, _, list| {
                push_held()?;
                match src.upgrade() {
                    Some(src) => src.push_list(list),
                    None => Err(gst::FlowError::Flushing),
                }
            }
        })
        .event_function({
            let src = src_weak.clone();
            let held = held.clone();
            let push_held = push_held.clone();
            move |_, _, ev| {
                match ev.type_() {
                    gst::EventType::FlushStart | gst::EventType::FlushStop => {
                        let mut h = held.lock().unwrap_or_else(|e| e.into_inner());
                        h.key = None;
                        h.list = None;
                    }
                    _ if ev.is_serialized() => {
                        let _ = push_held();
                    }
                    _ => {}
                }
                src.upgrade().is_some_and(|s| s.push_event(ev))
            }
        })
        .query_function({
            let src = src_weak.clone();
            move |_, _, q| src.upgrade().is_some_and(|s| s.peer_query(q))
        })
        .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
        .build();
    let src = gst::Pad::builder(gst::PadDirection::Src)
        .name("src")
        .event_function({
            let sink = sink_cell.clone();
            move |_, _, ev| sink.upgrade().is_some_and(|s| s.push_event(ev))
        })
        .query_function({
            let sink = sink_cell.clone();
            move |_, _, q| sink.upgrade().is_some_and(|s| s.peer_query(q))
        })
        .build();
    src_weak.set(&src);
    sink_cell.set(&sink);
    // Fresh names on a fresh bin: adding cannot fail.
    let _ = bin.add_pad(&sink);
    let _ = bin.add_pad(&src);
    bin.upcast()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(ssrc: u32, seq: u16, ts: u32, pt: u8, marker: bool) -> gst::Buffer {
        let mut v = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&ts.to_be_bytes());
        v.extend_from_slice(&ssrc.to_be_bytes());
        v.extend_from_slice(&[0u8; 100]);
        gst::Buffer::from_mut_slice(v)
    }

    /// What reached the harness: each push, as the sequence numbers it held.
    fn pushes(h: &mut gst_check::Harness) -> Vec<Vec<u16>> {
        let mut out = Vec::new();
        while let Some(ev) = h.try_pull_event() {
            drop(ev);
        }
        while let Some(b) = h.try_pull() {
            let mut s = [0u8; 4];
            let _ = b.copy_to_slice(0, &mut s);
            out.push(vec![u16::from_be_bytes([s[2], s[3]])]);
        }
        out
    }

    #[test]
    fn a_frame_leaves_as_one_list_and_audio_passes_at_once() {
        gst::init().unwrap();
        let el = new();
        let mut h = gst_check::Harness::with_element(&el, Some("sink"), Some("src"));
        h.set_src_caps_str("application/x-rtp");
        let lists = Arc::new(Mutex::new(Vec::<usize>::new()));
        {
            let lists = lists.clone();
            // On our src pad: the harness's sink pad splits a list into
            // buffers and probes each again.
            el.static_pad("src").unwrap().add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |_, info| {
                    let n = match &info.data {
                        Some(gst::PadProbeData::BufferList(l)) => l.len(),
                        _ => 1,
                    };
                    lists.lock().unwrap().push(n);
                    gst::PadProbeReturn::Ok
                },
            );
        }
        // The first frame shows SSRC 1 is video (two packets, one
        // timestamp): its first packet went alone, the rest is held.
        h.push(rtp(1, 1, 3000, 96, false)).unwrap();
        h.push(rtp(1, 2, 3000, 96, false)).unwrap();
        h.push(rtp(1, 3, 3000, 96, true)).unwrap();
        assert_eq!(*lists.lock().unwrap(), vec![1, 2]);
        lists.lock().unwrap().clear();
        // A three-packet frame with an audio packet in the middle of it,
        // then a frame whose marker was lost followed by the next frame.
        h.push(rtp(1, 4, 6000, 96, false)).unwrap();
        h.push(rtp(1, 5, 6000, 96, false)).unwrap();
        assert!(
            lists.lock().unwrap().is_empty(),
            "held until the frame ends"
        );
        h.push(rtp(2, 20, 960, 111, false)).unwrap();
        h.push(rtp(1, 6, 6000, 96, true)).unwrap();
        h.push(rtp(1, 7, 9000, 96, false)).unwrap();
        h.push(rtp(1, 8, 12000, 96, true)).unwrap();
        // Audio never batches: one timestamp per packet.
        h.push(rtp(2, 21, 1920, 111, false)).unwrap();
        assert_eq!(*lists.lock().unwrap(), vec![2, 1, 1, 1, 1, 1]);
        let seqs: Vec<u16> = pushes(&mut h).into_iter().flatten().collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 20, 6, 7, 8, 21], "order kept");
    }

    #[test]
    fn a_long_frame_is_cut_at_max_batch_and_eos_flushes() {
        gst::init().unwrap();
        let mut h = gst_check::Harness::with_element(&new(), Some("sink"), Some("src"));
        h.set_src_caps_str("application/x-rtp");
        // Packet 0 goes alone (the SSRC is not yet known as video).
        for seq in 0..(MAX_BATCH as u16 + 4) {
            h.push(rtp(1, seq, 3000, 96, false)).unwrap();
        }
        assert_eq!(pushes(&mut h).len(), MAX_BATCH + 1);
        assert!(h.push_event(gst::event::Eos::new()));
        assert_eq!(pushes(&mut h).len(), 3);
    }
}
