//! A room driven through its typed API (no plugin, no transport) on
//! paused tokio time: its timers live in the task's own queue, so a
//! 10-second ingest timeout takes no 10 seconds here.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use webrtc_gateway::ids::{HandleId, Id, RoomId};
use webrtc_gateway::room::config::RoomConfig;
use webrtc_gateway::room::ingest::SourceSpec;
use webrtc_gateway::room::{
    self, Command, IngestParams, Notice, Notices, RoomContext, RoomError, RoomHandle,
};

/// What the room told its participants.
#[derive(Default)]
struct Heard(Mutex<Vec<Notice>>);

impl Notices for Heard {
    fn notify(&self, _room: &RoomId, _to: HandleId, notice: Notice) {
        self.0.lock().unwrap().push(notice);
    }
}

fn context() -> Arc<RoomContext> {
    Arc::new(RoomContext {
        ice: Default::default(),
        jitter_buffer_ms: 200,
        batch_send: true,
        keyframe_interval: Duration::from_millis(500),
        notices: Arc::new(Heard::default()),
        string_ids: false,
        membership: Arc::default(),
        alive: Arc::default(),
        encoders: Arc::default(),
        recording: room::record::Catalog::builtin(),
        rec_dir: std::env::temp_dir(),
        recordings: Arc::default(),
        max_recordings: 0,
        ingest: room::ingest::Catalog::builtin(),
        egress: room::egress::Catalog::builtin(),
        mcu: room::mcu::Catalog::builtin(),
        rtsp: None,
    })
}

/// A TCP port that accepts RTSP connections and never answers, for at
/// most `limit` of wall time (its thread stops by itself).
fn silent_camera(limit: Duration) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + limit;
        let mut open = Vec::new();
        while std::time::Instant::now() < deadline {
            if let Ok((s, _)) = listener.accept() {
                open.push(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    port
}

fn add_ingest(room: &RoomHandle, port: u16) -> oneshot::Receiver<Result<Id, RoomError>> {
    let (tx, rx) = oneshot::channel();
    let spec = SourceSpec::from_url(&format!("rtsp://127.0.0.1:{port}/cam")).expect("url");
    room.send(Command::AddIngest {
        secret: None,
        params: IngestParams {
            spec,
            id: None,
            display: None,
            reconnect_delay: None,
            keyframe_cache: true,
        },
        reply: tx,
    })
    .expect("queued");
    rx
}

#[tokio::test(start_paused = true)]
async fn an_ingest_that_shows_no_stream_fails_after_its_connect_timeout_of_room_time() {
    gst::init().unwrap();
    let ctx = context();
    let timeout_s = ctx.ingest.connect_timeout_s;
    let port = silent_camera(Duration::from_secs(30));
    let room = room::spawn(RoomConfig::new(Id::Num(1)), ctx.clone()).expect("room");
    let (wall, room_time) = (std::time::Instant::now(), tokio::time::Instant::now());
    let answer = tokio::time::timeout(Duration::from_secs(10 * timeout_s), add_ingest(&room, port))
        .await
        .expect("answered before the test's own bound")
        .expect("the room replied");
    let err = answer.expect_err("a camera that never answers");
    assert_eq!(
        err.to_string(),
        format!("source failed: no usable stream from the source within {timeout_s} s")
    );
    assert!(room_time.elapsed() >= Duration::from_secs(timeout_s));
    assert!(
        wall.elapsed() < Duration::from_secs(timeout_s) / 2,
        "{timeout_s} s of room time took {:?} of wall time",
        wall.elapsed()
    );
    let (tx, rx) = oneshot::channel();
    room.send(Command::Shutdown { reply: tx }).unwrap();
    rx.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_answers_a_pending_ingest_and_frees_the_pipeline() {
    gst::init().unwrap();
    let ctx = context();
    let port = silent_camera(Duration::from_secs(30));
    let room = room::spawn(RoomConfig::new(Id::Num(2)), ctx.clone()).expect("room");
    let pending = add_ingest(&room, port);
    let (tx, rx) = oneshot::channel();
    room.send(Command::Shutdown { reply: tx }).unwrap();
    rx.await.expect("shut down");
    assert!(matches!(pending.await, Ok(Err(RoomError::Destroyed))));
    assert!(!room.is_alive());
    // The pipeline's last reference goes with the task: poll a bounded while.
    for _ in 0..100 {
        if room::alive_counts(&ctx.alive) == (0, 0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
        tokio::task::yield_now().await;
    }
    panic!("still alive: {:?}", room::alive_counts(&ctx.alive));
}

#[tokio::test(start_paused = true)]
async fn an_mcu_room_without_an_encoder_serves_as_sfu_after_its_wait() {
    gst::init().unwrap();
    // The encoder probe never answers (`encoders` stays empty).
    let ctx = context();
    let mut cfg = RoomConfig::new(Id::Num(3));
    cfg.mode = room::mcu::Mode::Mcu;
    let room = room::spawn(cfg, ctx).expect("room");
    let (wall, room_time) = (std::time::Instant::now(), tokio::time::Instant::now());
    let (tx, rx) = oneshot::channel();
    room.send(Command::Info { reply: tx }).unwrap();
    let info = tokio::time::timeout(Duration::from_secs(60), rx)
        .await
        .expect("answered")
        .expect("room info");
    assert_eq!(info.participants, 0);
    let waited = room_time.elapsed();
    assert!(
        (Duration::from_secs(10)..Duration::from_secs(11)).contains(&waited),
        "commands wait for the encoder probe, at most 10 s of room time: {waited:?}"
    );
    assert!(
        wall.elapsed() < Duration::from_secs(5),
        "{:?}",
        wall.elapsed()
    );
    // No mixer: mixing requests are refused, the room forwards.
    let (tx, rx) = oneshot::channel();
    room.send(Command::SetLayout {
        secret: None,
        layout: room::layout::Layout::Grid,
        reply: tx,
    })
    .unwrap();
    assert!(matches!(
        rx.await,
        Ok(Err(RoomError::NotMixing("set_layout")))
    ));
    let (tx, rx) = oneshot::channel();
    room.send(Command::Shutdown { reply: tx }).unwrap();
    rx.await.unwrap();
}
