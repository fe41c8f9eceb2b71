//! Connections are file descriptors: the soft open-file limit must leave room for
//! --max-connections, or accepting fails instead of waiting at the cap.

/// Descriptors beyond the connections: databases, the APNs and webhook clients, logs.
#[cfg(unix)]
const SPARE_FILES: libc::rlim_t = 1024;

/// Raises the soft open-file limit toward what `max_connections` needs (up to the hard limit),
/// and warns when it stays below: past it, accepting fails instead of waiting at the cap.
#[cfg(unix)]
pub fn fit_open_files(max_connections: usize) {
    let wanted = (max_connections as libc::rlim_t).saturating_add(SPARE_FILES);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by reference.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if !read || max_connections == 0 || limit.rlim_cur >= wanted {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: wanted.min(limit.rlim_max),
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        limit = raised;
    }
    if limit.rlim_cur < wanted {
        tracing::warn!(
            open_files = limit.rlim_cur,
            max_connections,
            "the open-file limit is below --max-connections; raise it (LimitNOFILE=) or lower the cap"
        );
    }
}

#[cfg(not(unix))]
pub fn fit_open_files(_max_connections: usize) {}
