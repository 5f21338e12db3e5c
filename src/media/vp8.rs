//! RTP payload facts the simulcast rewrite needs: where a packet's payload
//! starts, and the VP8 payload descriptor's `PictureID`, `TL0PICIDX` and
//! `TID` (RFC 7741 §4.2).

/// Where the VP8 payload descriptor's fields are in an RTP packet (RFC 7741
/// §4.2): byte offsets of `PictureID` (with its width: 15 or 7 bits) and
/// `TL0PICIDX`, and the `TID`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Vp8Fields {
    /// Offset of the PictureID and whether it is 15 bits.
    pub picture_id: Option<(usize, bool)>,
    /// Offset of TL0PICIDX.
    pub tl0: Option<usize>,
    /// Temporal layer index.
    pub tid: Option<u8>,
}

/// Offset of the RTP payload in `data` (header, CSRCs, extension skipped).
pub fn payload_offset(data: &[u8]) -> Option<usize> {
    if data.len() < 12 || data[0] >> 6 != 2 {
        return None;
    }
    let cc = (data[0] & 0x0f) as usize;
    let mut off = 12 + 4 * cc;
    if data[0] & 0x10 != 0 {
        let ext = data.get(off + 2..off + 4)?;
        off += 4 + 4 * u16::from_be_bytes([ext[0], ext[1]]) as usize;
    }
    (off <= data.len()).then_some(off)
}

/// The VP8 descriptor fields of an RTP packet.
pub fn vp8_fields(data: &[u8]) -> Option<Vp8Fields> {
    let p = payload_offset(data)?;
    let b0 = *data.get(p)?;
    let mut f = Vp8Fields::default();
    if b0 & 0x80 == 0 {
        return Some(f);
    }
    let x = *data.get(p + 1)?;
    let mut off = p + 2;
    if x & 0x80 != 0 {
        let m = *data.get(off)? & 0x80 != 0;
        f.picture_id = Some((off, m));
        off += if m { 2 } else { 1 };
    }
    if x & 0x40 != 0 {
        data.get(off)?;
        f.tl0 = Some(off);
        off += 1;
    }
    if x & 0x30 != 0 {
        f.tid = Some(*data.get(off)? >> 6);
    }
    Some(f)
}

/// The PictureID at `(offset, 15-bit)`.
pub fn read_picture_id(data: &[u8], (off, wide): (usize, bool)) -> u16 {
    if wide {
        u16::from_be_bytes([data[off] & 0x7f, data[off + 1]])
    } else {
        u16::from(data[off] & 0x7f)
    }
}

/// Writes PictureID `v` at `(offset, 15-bit)`, keeping the M bit.
pub fn write_picture_id(data: &mut [u8], (off, wide): (usize, bool), v: u16) {
    if wide {
        data[off] = 0x80 | ((v >> 8) as u8 & 0x7f);
        data[off + 1] = v as u8;
    } else {
        data[off] = v as u8 & 0x7f;
    }
}

/// The PictureID's value mask: 15 or 7 bits.
pub fn picture_id_mask(wide: bool) -> u16 {
    if wide { 0x7fff } else { 0x7f }
}
