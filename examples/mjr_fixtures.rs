//! Makes the `.mjr` fixtures of `tests/fixtures/mjr/` with a real Janus:
//! Debian's `janus` on loopback (`tests/janus/run-janus.sh`), a videoroom
//! with `record: true`, and a GStreamer `webrtcbin` publisher sending 3 s of
//! H.264 + Opus, then 3 s of VP8 + Opus.
//!
//! ```sh
//! sudo apt-get install -y janus
//! cargo run --example mjr_fixtures -- tests/fixtures/mjr
//! ```

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gateway_testkit::janus::Session;
use gateway_testkit::peer::{PublisherSpec, TestPeer, VideoCodec};
use serde_json::json;

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gst::init()?;
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .context("usage: mjr_fixtures <out dir>")?,
    );
    std::fs::create_dir_all(&out)?;
    let work = std::env::temp_dir().join(format!("janus-mjr-{}", std::process::id()));
    let rec = work.join("rec");
    std::fs::create_dir_all(&rec)?;
    let (http, ws) = (free_port()?, free_port()?);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/janus/run-janus.sh");
    let mut janus = Command::new(script)
        .arg(&work)
        .arg(http.to_string())
        .arg(ws.to_string())
        .env("JANUS_DEBUG_LEVEL", "3")
        .stdout(Stdio::null())
        .spawn()
        .context("starting janus")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", ws)).is_err() {
        if Instant::now() > deadline {
            let _ = janus.kill();
            bail!("janus did not start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let result = async {
        let session = Session::connect_ws(&format!("ws://127.0.0.1:{ws}")).await?;
        for (room, codec, vc) in [(4201u64, VideoCodec::H264, "h264"), (4202, VideoCodec::Vp8, "vp8")] {
            let admin = Arc::new(session.attach("janus.plugin.videoroom").await?);
            let r = admin
                .sync(json!({"request": "create", "room": room, "videocodec": vc, "audiocodec": "opus",
                             "record": true, "rec_dir": rec.display().to_string()}))
                .await?;
            anyhow::ensure!(r["videoroom"] == "created", "create: {r}");
            let spec = PublisherSpec {
                codec,
                video_patterns: vec!["ball".into()],
                audio_hz: Some(440.0),
                width: 320,
                height: 240,
                fps: 30,
                gop: 60,
            };
            let (peer, _) = TestPeer::publish(&admin, &json!(room), vc, &spec).await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            drop(peer);
            admin
                .call(json!({"request": "leave"}), None, Duration::from_secs(5))
                .await?;
        }
        anyhow::Ok(())
    }
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = Command::new("kill").arg(janus.id().to_string()).status();
    let _ = janus.wait();
    result?;
    for e in std::fs::read_dir(&rec)? {
        let p = e?.path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        // videoroom-<room>-user-<id>-<ts>-<kind>-<mindex>.mjr → <room>-<kind>.mjr
        let kind = if name.contains("-video-") {
            "video"
        } else {
            "audio"
        };
        let room = name.split('-').nth(1).unwrap_or("x").to_owned();
        let codec = if room == "4201" { "h264" } else { "vp8" };
        let dest = out.join(format!("{codec}-{kind}.mjr"));
        std::fs::copy(&p, &dest)?;
        println!(
            "{} ({} bytes)",
            dest.display(),
            std::fs::metadata(&dest)?.len()
        );
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
