//! A/V sync checks: a publisher that flashes and beeps once a second, and
//! the offsets between flashes and beeps measured in a recorded file.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gateway_testkit::peer::{TestPeer, wait_playing};
use gst::prelude::*;
use serde_json::Value;

use super::decode_errors;

/// A publisher whose video is black with one white frame at each whole
/// second and whose audio is silent with a 100 ms 1 kHz beep starting at
/// each whole second: raw frames from `appsrc`, timed from one clock.
/// `drop_probability` drops that share of RTP packets before `webrtcbin`
/// (loss between publisher and gateway).
pub async fn publish_flash_beep(
    handle: &std::sync::Arc<gateway_testkit::janus::Handle>,
    room: &Value,
    drop_probability: f64,
) -> (TestPeer, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    const W: usize = 160;
    const H: usize = 120;
    let launch = format!(
        "webrtcbin name=w \
         appsrc name=v is-live=true format=time do-timestamp=false caps=video/x-raw,format=I420,width={W},height={H},framerate=30/1 \
           ! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=300 \
           ! video/x-h264,profile=constrained-baseline ! rtph264pay pt=96 config-interval=-1 aggregate-mode=zero-latency mtu=1200 \
           ! identity drop-probability={drop_probability} \
           ! application/x-rtp,media=video,encoding-name=H264,payload=96 ! w. \
         appsrc name=a is-live=true format=time do-timestamp=false caps=audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved \
           ! audioconvert ! opusenc ! rtpopuspay pt=111 ! identity drop-probability={drop_probability} \
           ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! w."
    );
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let (peer, _, ()) = TestPeer::publish_launch(handle, room, "flash", &launch, 2, |pipeline| {
        let v = pipeline
            .by_name("v")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok());
        let a = pipeline
            .by_name("a")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok());
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (Some(v), Some(a)) = (v, a) else { return };
            if !wait_playing(&[&v, &a], &stop, Duration::from_secs(10)) {
                return;
            }
            let start = Instant::now();
            let (mut frame, mut chunk) = (0u64, 0u64);
            const FRAME_NS: u64 = 1_000_000_000 / 30;
            const CHUNK: u64 = 960; // 20 ms at 48 kHz
            while !stop.load(Ordering::Relaxed) {
                let vt = frame * FRAME_NS;
                let at = chunk * CHUNK * 1_000_000_000 / 48_000;
                let next = vt.min(at);
                let due = start + Duration::from_nanos(next);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if vt <= at {
                    let luma = if frame % 30 == 0 { 235u8 } else { 16 };
                    let mut data = vec![luma; W * H];
                    data.extend(std::iter::repeat_n(128u8, W * H / 2));
                    let mut b = gst::Buffer::from_mut_slice(data);
                    if let Some(b) = b.get_mut() {
                        b.set_pts(gst::ClockTime::from_nseconds(vt));
                        b.set_duration(gst::ClockTime::from_nseconds(FRAME_NS));
                    }
                    if v.push_buffer(b).is_err() {
                        return;
                    }
                    frame += 1;
                } else {
                    let mut data = Vec::with_capacity(CHUNK as usize * 2);
                    for i in 0..CHUNK {
                        let n = chunk * CHUNK + i;
                        let in_beep = n % 48_000 < 4_800;
                        let s = if in_beep {
                            (f64::sin(2.0 * std::f64::consts::PI * 1000.0 * n as f64 / 48_000.0)
                                * 16_000.0) as i16
                        } else {
                            0
                        };
                        data.extend(s.to_le_bytes());
                    }
                    let mut b = gst::Buffer::from_mut_slice(data);
                    if let Some(b) = b.get_mut() {
                        b.set_pts(gst::ClockTime::from_nseconds(at));
                        b.set_duration(gst::ClockTime::from_nseconds(20_000_000));
                    }
                    if a.push_buffer(b).is_err() {
                        return;
                    }
                    chunk += 1;
                }
            }
        });
    })
    .await
    .expect("flash/beep publisher");
    (peer, stop)
}

/// Times (s) of white-flash onsets in a file's video.
pub fn flash_times(path: &Path) -> Vec<f64> {
    let pts = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    let pts: Vec<f64> = String::from_utf8_lossy(&pts.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    let raw = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "quiet", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:v:0",
            "-vf",
            "scale=8:8,format=gray",
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-",
        ])
        .output()
        .expect("ffmpeg");
    let lumas: Vec<f64> = raw
        .stdout
        .chunks(64)
        .map(|c| c.iter().map(|&b| b as f64).sum::<f64>() / 64.0)
        .collect();
    // Black is 16, white 235; a flash frame the encoder softened still
    // stands well above black.
    // The file's first frame is left out: it is stretched back to the
    // audio's start, so its onset is not when it was captured.
    let mut out = Vec::new();
    for (i, (l, t)) in lumas.iter().zip(&pts).enumerate() {
        if *l > 60.0 && i > 0 && lumas[i - 1] <= 60.0 {
            out.push(*t);
        }
    }
    out
}

/// Times (s) of beep onsets in a file's audio.
pub fn beep_times(path: &Path) -> Vec<f64> {
    let start = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=start_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    let start: f64 = String::from_utf8_lossy(&start.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0);
    let raw = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "quiet", "-i"])
        .arg(path)
        .args([
            "-map", "0:a:0", "-ac", "1", "-ar", "8000", "-f", "s16le", "-",
        ])
        .output()
        .expect("ffmpeg");
    let samples: Vec<f64> = raw
        .stdout
        .chunks(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]) as f64)
        .collect();
    // 2 ms windows; an onset is the first window above half the beep's
    // level after 200 ms of quiet (AAC spreads some energy ahead of a
    // transient, which a low threshold would take for the onset).
    let win = 16;
    let rms: Vec<f64> = samples
        .chunks(win)
        .map(|w| (w.iter().map(|s| s * s).sum::<f64>() / w.len() as f64).sqrt())
        .collect();
    let loud = rms.iter().cloned().fold(0.0, f64::max) * 0.5;
    let mut out = Vec::new();
    let mut quiet_for = usize::MAX / 2;
    for (i, rms) in rms.iter().enumerate() {
        if *rms > loud {
            if quiet_for >= 100 {
                out.push(start + (i * win) as f64 / 8_000.0);
            }
            quiet_for = 0;
        } else {
            quiet_for += 1;
        }
    }
    out
}

/// Each flash's distance (ms) to the nearest beep onset.
pub fn av_offsets(path: &Path) -> Vec<f64> {
    let flashes = flash_times(path);
    let beeps = beep_times(path);
    println!("flashes {flashes:?}\nbeeps   {beeps:?}");
    flashes
        .iter()
        .filter_map(|f| {
            beeps
                .iter()
                .map(|b| (b - f) * 1000.0)
                .min_by(|x, y| x.abs().total_cmp(&y.abs()))
        })
        .filter(|d| d.abs() < 500.0)
        .collect()
}

/// Flashes and beep onsets in `path` are within 40 ms of each other all
/// through the file; with `loss` (a share of packets lost), most are
/// (a lost beep onset is silent, which delays that onset by
/// 20 ms per lost packet) and the file has hardly a decoder complaint.
pub fn assert_av_sync(path: &Path, loss: f64) {
    // Under loss some flash frames are lost (or wait for the next keyframe).
    let pairs = if loss > 0.0 { 3 } else { 8 };
    assert_av_sync_with(path, loss, pairs, true);
}

/// [`assert_av_sync`] with at least `pairs` flash/beep pairs; `complete`
/// false for a file cut short (a killed gateway), whose last fragment the
/// decoder may find truncated.
pub fn assert_av_sync_with(path: &Path, loss: f64, pairs: usize, complete: bool) {
    let offsets = av_offsets(path);
    println!("A/V offsets (audio - video), ms: {offsets:?}");
    assert!(
        offsets.len() >= pairs,
        "too few flash/beep pairs: {offsets:?}"
    );
    let mut sorted = offsets.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
    let errors = decode_errors(path);
    if loss > 0.0 {
        let within = offsets.iter().filter(|d| d.abs() <= 40.0).count();
        println!(
            "under {loss} loss: median {median:.1} ms, {within} of {} pairs within 40 ms",
            offsets.len()
        );
        assert!(median.abs() <= 40.0, "A/V offset median {median:.1} ms");
        assert!(within * 5 >= offsets.len() * 4, "A/V offsets {offsets:?}");
        // The depayloader drops broken frames and asks for a keyframe, so
        // the decoder rarely sees damage (measured: no complaint at all).
        let complaints = errors.lines().count();
        println!("decoder complaints under {loss} loss: {complaints} lines");
        assert!(complaints <= 20, "{errors}");
    } else {
        // No drift inside a file, and within 40 ms (issue 4).
        assert!(hi - lo <= 5.0, "A/V offset drifts {lo:.1}..{hi:.1} ms");
        assert!(
            lo.abs().max(hi.abs()) <= 40.0,
            "A/V offset {lo:.1}..{hi:.1} ms"
        );
        if complete {
            assert!(errors.is_empty(), "{errors}");
        }
    }
}
