//! `webrtc-gateway mjr2mp4`: Janus `.mjr` recordings straight to MP4.
//!
//! The fixtures in `tests/fixtures/mjr/` were recorded by a real Janus
//! (Debian's `janus` 1.1 on loopback, videoroom `record: true`) from a
//! GStreamer `webrtcbin` publisher, 3 s each of H.264 + Opus and VP8 + Opus:
//! `cargo run --example mjr_fixtures -- tests/fixtures/mjr`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{decode_errors, probe};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mjr")
        .join(name)
}

fn out_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gw-mjr-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mjr2mp4(args: &[&Path], out: &Path) -> std::process::Output {
    Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_webrtc-gateway"))
        .arg("--config")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/gateway.toml"))
        .arg("mjr2mp4")
        .args(args)
        .arg("-o")
        .arg(out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run mjr2mp4")
}

#[test]
fn janus_recordings_convert_to_playable_mp4() {
    let dir = out_dir("ok");
    for codec in ["h264", "vp8"] {
        let out = dir.join(format!("{codec}.mp4"));
        // Audio first on purpose: the order of the inputs does not matter.
        let video = fixture(&format!("{codec}-video.mjr"));
        let audio = fixture(&format!("{codec}-audio.mjr"));
        let r = mjr2mp4(&[&audio, &video], &out);
        assert!(
            r.status.success(),
            "{codec}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let (duration, codecs) = probe(&out);
        println!("{codec}: {duration:.2} s {codecs:?}");
        assert!(
            codecs.contains(&"h264".to_owned()) && codecs.contains(&"aac".to_owned()),
            "{codecs:?}"
        );
        assert!(
            (duration - 3.0).abs() < 0.6,
            "{codec}: {duration} s for 3 s recorded"
        );
        let errors = decode_errors(&out);
        assert!(errors.is_empty(), "{codec}: {errors}");
    }
    // Video only.
    let out = dir.join("video-only.mp4");
    let r = mjr2mp4(&[&fixture("h264-video.mjr")], &out);
    assert!(r.status.success());
    assert_eq!(probe(&out).1, vec!["h264".to_owned()]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_inputs_fail_with_a_clear_message() {
    let dir = out_dir("bad");
    let not_mjr = dir.join("x.mjr");
    std::fs::write(&not_mjr, b"hello").unwrap();
    let r = mjr2mp4(&[&not_mjr], &dir.join("x.mp4"));
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("not a Janus .mjr recording"), "{err}");
    // Two video files.
    let v = fixture("h264-video.mjr");
    let r = mjr2mp4(&[&v, &v], &dir.join("y.mp4"));
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("two video recordings"));
    let r = mjr2mp4(&[&dir.join("missing.mjr")], &dir.join("z.mp4"));
    assert!(!r.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
