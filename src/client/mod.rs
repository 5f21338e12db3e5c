//! Janus client and GStreamer peers (tests, bench).
