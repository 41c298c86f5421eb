use super::*;

/// A disk with room for `capacity` bytes: writes fill it, then fail with ENOSPC.
#[derive(Debug, Default)]
struct SmallDisk {
    data: Vec<u8>,
    capacity: usize,
}

impl Write for SmallDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.capacity.saturating_sub(self.data.len());
        if room == 0 {
            return Err(io::Error::from_raw_os_error(28));
        }
        let n = room.min(buf.len());
        self.data.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl RollBack for SmallDisk {
    fn position(&mut self) -> io::Result<u64> {
        Ok(self.data.len() as u64)
    }

    fn roll_back(&mut self, len: u64) -> io::Result<()> {
        self.data.truncate(len as usize);
        Ok(())
    }
}

fn event(i: usize) -> Vec<u8> {
    format!(
        "{{\"class_uid\":1001,\"n\":{i},\"pad\":\"{}\"}}\n",
        "x".repeat(200)
    )
    .into_bytes()
}

fn lines(data: &[u8]) -> Vec<serde_json::Value> {
    assert!(data.is_empty() || data.ends_with(b"\n"), "a partial line");
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("every line whole JSON"))
        .collect()
}

#[test]
fn a_full_disk_never_gets_half_a_line_and_the_gap_is_counted_and_reported_on_resume() {
    let mut guard = OutputGuard::new(
        SmallDisk {
            capacity: 1000,
            ..SmallDisk::default()
        },
        "test",
    )
    .quiet();
    // 6 000 lines of ~230 bytes: far beyond the disk and the hold buffer.
    for i in 0..6_000 {
        guard.write_all(&event(i)).unwrap();
        guard.flush().unwrap();
    }
    assert!(guard.is_blocked());
    let written = lines(&guard.get_ref().data);
    assert_eq!(written.len(), 4, "1000 bytes hold 4 whole lines of 230");
    let gap = guard.gap();
    assert!(gap.lines > 0 && gap.lines == gap.events, "{gap:?}");
    let held = guard.buf.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(
        4 + held as u64 + gap.lines,
        6_000,
        "every line is written, held or counted"
    );

    // Space returns: the held lines, then the gap notice, then the new lines.
    guard.inner.capacity = usize::MAX;
    std::thread::sleep(MAX_RETRY.min(Duration::from_millis(1200)));
    // The back-off may still be running: keep writing until it retries.
    let start = Instant::now();
    let mut i = 6_000;
    while guard.is_blocked() {
        assert!(start.elapsed() < Duration::from_secs(20), "never retried");
        guard.write_all(&event(i)).unwrap();
        guard.flush().unwrap();
        i += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    guard.flush().unwrap();
    let all = lines(&guard.get_ref().data);
    let notice = all
        .iter()
        .position(|v| v["picket_notice"] == "output_gap")
        .expect("the gap is reported in the output");
    let n = &all[notice];
    let dropped = n["lines"].as_u64().unwrap();
    assert_eq!(n["events"].as_u64().unwrap(), dropped);
    assert!(n["error"].as_str().unwrap().contains("os error 28"), "{n}");
    // Order: lines before the notice are consecutive from 0; after it they resume after the
    // dropped ones, and the count fills the hole exactly.
    let before: Vec<u64> = all[..notice]
        .iter()
        .map(|v| v["n"].as_u64().unwrap())
        .collect();
    assert_eq!(before, (0..before.len() as u64).collect::<Vec<_>>());
    let next = all[notice + 1]["n"].as_u64().unwrap();
    assert_eq!(next, before.len() as u64 + dropped);
    let after: Vec<u64> = all[notice + 1..]
        .iter()
        .map(|v| v["n"].as_u64().unwrap())
        .collect();
    assert_eq!(after, (next..i as u64).collect::<Vec<_>>());
    assert_eq!(guard.report().dropped_lines(), dropped);
    assert_eq!(guard.report().failures(), 1);
}

#[test]
fn a_write_cut_in_the_middle_is_rolled_back_to_the_last_whole_line() {
    let mut guard = OutputGuard::new(
        SmallDisk {
            capacity: 300,
            ..SmallDisk::default()
        },
        "test",
    )
    .quiet();
    guard.write_all(&event(0)).unwrap();
    guard.write_all(&event(1)).unwrap();
    guard.flush().unwrap();
    // The disk took 300 bytes of the two lines' ~460: the first line stays, the partial
    // second is cut back and held for the retry.
    assert!(guard.is_blocked());
    assert_eq!(guard.get_ref().data, event(0));
    assert_eq!(guard.buf, event(1));
    assert_eq!(
        guard.gap().lines,
        0,
        "nothing dropped: the second line is held"
    );
}

#[test]
fn dropped_lines_are_counted_by_kind() {
    let mut gap = Gap::default();
    gap.add(b"{\"picket_notice\":\"events_lost\"}\n");
    gap.add(b"{\"class_uid\":2004}\n");
    gap.add(b"{\"event\":{\"kind\":\"alert\"}}\n");
    gap.add(b"{\"class_uid\":1001}\n");
    assert_eq!(
        (gap.lines, gap.notices, gap.alerts, gap.events),
        (4, 1, 2, 1)
    );
}

#[test]
fn lines_left_at_the_end_are_counted() {
    let report;
    {
        let mut guard = OutputGuard::new(
            SmallDisk {
                capacity: 0,
                ..SmallDisk::default()
            },
            "test",
        )
        .quiet();
        report = guard.report();
        guard.write_all(&event(0)).unwrap();
        guard.flush().unwrap();
    }
    assert_eq!(report.dropped_lines(), 1);
}

#[test]
fn a_reader_that_went_away_ends_the_output() {
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut guard = OutputGuard::new(NoRollBack(Closed), "pipe").quiet();
    guard.write_all(&event(0)).unwrap();
    assert_eq!(guard.flush().unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    assert!(guard.write_all(&event(1)).is_err());
}

/// Whole lines, `count` of them from `first`, in one hand-over of at least a buffer's worth
/// (as the emitter hands its lines over).
fn hand_over(first: usize, count: usize) -> Vec<u8> {
    let chunk: Vec<u8> = (first..first + count).flat_map(event).collect();
    assert!(chunk.len() >= BUFFER);
    chunk
}

#[test]
fn a_hand_over_of_whole_lines_is_written_through_and_what_fails_is_cut_back_and_held() {
    // Room for the first hand-over and part of a line of the second.
    let per = BUFFER / 230 + 1;
    let first = hand_over(0, per);
    let mut guard = OutputGuard::new(
        SmallDisk {
            capacity: first.len() + 100,
            ..SmallDisk::default()
        },
        "test",
    )
    .quiet();
    guard.write_all(&first).unwrap();
    assert_eq!(guard.get_ref().data, first, "written through whole");
    assert!(guard.buf.is_empty(), "and not copied into the buffer");
    let second = hand_over(per, per);
    guard.write_all(&second).unwrap();
    // The disk took 100 bytes of the second hand-over's first line: cut back, and the whole
    // hand-over held for the retry.
    assert!(guard.is_blocked());
    assert_eq!(guard.get_ref().data, first);
    assert_eq!(guard.buf, second);
    assert_eq!(guard.gap().lines, 0);

    // Space returns: everything arrives once, in order, with no gap to report.
    guard.inner.capacity = usize::MAX;
    let start = Instant::now();
    let mut next = 2 * per;
    while guard.is_blocked() {
        assert!(start.elapsed() < Duration::from_secs(20), "never retried");
        std::thread::sleep(Duration::from_millis(50));
        guard.write_all(&event(next)).unwrap();
        guard.flush().unwrap();
        next += 1;
    }
    let third = hand_over(next, per);
    guard.write_all(&third).unwrap();
    guard.flush().unwrap();
    let numbers: Vec<u64> = lines(&guard.get_ref().data)
        .iter()
        .map(|v| v["n"].as_u64().expect("no gap notice: nothing was dropped"))
        .collect();
    assert_eq!(numbers, (0..(next + per) as u64).collect::<Vec<_>>());
}
