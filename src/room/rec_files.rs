//! Where recordings go: Janus's file names (`videoroom-<room>-user-<feed>-<ms>`),
//! or the name a client gave, never outside the room's `rec_dir`.

use std::path::{Path, PathBuf};

/// The file for a recording: `<dir>/<filename>.<ext>` when a name is given,
/// else `<dir>/videoroom-<room>-user-<feed>-<ms>.<ext>` (or `-mix-<ms>`).
/// `None` for a name that leaves the directory (absolute, or with `..`).
pub fn file_path(
    dir: &Path,
    filename: Option<&str>,
    room: &str,
    feed: Option<&str>,
    extension: &str,
    ms: u64,
) -> Option<PathBuf> {
    let name = match filename {
        Some(f) => {
            let p = Path::new(f);
            if f.is_empty()
                || p.is_absolute()
                || p.components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return None;
            }
            format!("{f}.{extension}")
        }
        None => match feed {
            Some(feed) => format!("videoroom-{room}-user-{feed}-{ms}.{extension}"),
            None => format!("videoroom-{room}-mix-{ms}.{extension}"),
        },
    };
    Some(dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_janus_and_stay_in_the_directory() {
        let d = Path::new("/rec");
        assert_eq!(
            file_path(d, None, "1234", Some("42"), "mp4", 99),
            Some(PathBuf::from("/rec/videoroom-1234-user-42-99.mp4"))
        );
        assert_eq!(
            file_path(d, None, "1234", None, "mp4", 99),
            Some(PathBuf::from("/rec/videoroom-1234-mix-99.mp4"))
        );
        assert_eq!(
            file_path(d, Some("talk/alice"), "1", None, "mp4", 0),
            Some(PathBuf::from("/rec/talk/alice.mp4"))
        );
        for bad in ["../x", "/etc/x", "a/../../b", ""] {
            assert_eq!(file_path(d, Some(bad), "1", None, "mp4", 0), None, "{bad}");
        }
    }
}
