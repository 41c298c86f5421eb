use std::sync::Arc;

use picket_content::sample::measure_head;
use picket_content::testing::xorshift_bytes;
use picket_content::Tail;
use picket_model::{Details, FilePath, Host, ProcessInfo, ProcessKey};

use super::*;

fn random(n: usize, seed: u64) -> Vec<u8> {
    xorshift_bytes(n, seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
}

fn opaque(seed: u64) -> Sample {
    measure_head(
        &random(4096, seed),
        50_000,
        Some(Tail::of(&random(4096, seed + 1))),
    )
}

fn text() -> Sample {
    let body = b"quarterly figures, all fine\n".repeat(100);
    measure_head(&body, 2800, Some(Tail::of(&body)))
}

fn gzip(seed: u64) -> Sample {
    let mut bytes = b"\x1F\x8B\x08\x00\x00\x00\x00\x00".to_vec();
    bytes.extend(random(4000, seed));
    measure_head(&bytes, 9000, Some(Tail::of(&random(4096, seed + 2))))
}

fn note() -> Sample {
    measure_head(
        b"ALL YOUR FILES ARE ENCRYPTED. To decrypt them, pay 0.5 bitcoin. Contact us within 72 hours.",
        90,
        None,
    )
}

fn path(p: &str) -> FilePath {
    FilePath::from_text(p)
}

/// A process: pid, parent, user (None = gone before it was looked at).
fn proc_(pid: u32, parent: Option<u32>, user: Option<&str>) -> Arc<ProcessInfo> {
    Arc::new(ProcessInfo {
        key: ProcessKey { pid, start_key: 0 },
        user: user.map(str::to_owned),
        parent_pid: parent,
        ..ProcessInfo::default()
    })
}

struct Run {
    engine: Engine,
    time: u64,
    seq: u64,
    alerts: Vec<Alert>,
    /// What the "disk" returns for a path when sampled.
    disk: HashMap<String, Sample>,
}

impl Run {
    fn new() -> Self {
        Self {
            engine: Engine::default(),
            time: 133_000_000_000_000_000,
            seq: 0,
            alerts: Vec::new(),
            disk: HashMap::new(),
        }
    }

    fn event(
        &mut self,
        op: Operation,
        process: &Arc<ProcessInfo>,
        target: &str,
        source: Option<&str>,
    ) {
        self.time += SECOND / 100;
        self.seq += 1;
        let event = FileEvent {
            seq: self.seq,
            time: Timestamp(self.time),
            host: Host::Linux,
            operation: op,
            process: process.clone(),
            thread_id: 0,
            target: path(target),
            source: source.map(|s| Box::new(path(s))),
            details: Details::default(),
            entropy: None,
        };
        let mut requests = Vec::new();
        self.engine
            .observe(&event, Some(&mut requests), &mut self.alerts);
        for r in requests {
            let sample = self.disk.get(&r.path).cloned();
            self.engine.on_sample(r, sample, &mut self.alerts);
        }
    }

    fn write(&mut self, p: &Arc<ProcessInfo>, file: &str, content: Sample) {
        self.disk.insert(file.into(), content);
        self.event(Operation::CloseModified, p, file, None);
    }

    fn create(&mut self, p: &Arc<ProcessInfo>, file: &str, content: Sample) {
        self.event(Operation::Create, p, file, None);
        self.write(p, file, content);
    }

    fn rename(&mut self, p: &Arc<ProcessInfo>, from: &str, to: &str) {
        if let Some(s) = self.disk.remove(from) {
            self.disk.insert(to.into(), s);
        }
        self.event(Operation::Rename, p, to, Some(from));
    }

    fn delete(&mut self, p: &Arc<ProcessInfo>, file: &str) {
        self.disk.remove(file);
        self.event(Operation::Delete, p, file, None);
    }

    fn idle(&mut self, secs: u64) {
        self.time += secs * SECOND;
        self.engine.tick(Timestamp(self.time), &mut self.alerts);
    }

    fn levels(&self, rule: &str) -> Vec<Level> {
        self.alerts
            .iter()
            .filter(|a| a.rule_id == rule)
            .map(|a| a.level)
            .collect()
    }

    fn high_or_above(&self) -> usize {
        self.alerts
            .iter()
            .filter(|a| a.level >= Level::High)
            .count()
    }
}

#[test]
fn in_place_encryption_alerts_once_at_the_fifth_file() {
    let mut run = Run::new();
    let p = proc_(500, Some(100), Some("ann"));
    for i in 0..4 {
        run.write(&p, &format!("/home/ann/docs/f{i}.docx"), opaque(i));
    }
    assert_eq!(run.high_or_above(), 0, "four files are not enough");
    for i in 4..12 {
        run.write(&p, &format!("/home/ann/docs/f{i}.docx"), opaque(i));
    }
    assert_eq!(
        run.levels(rules::FILES),
        vec![Level::High],
        "{:?}",
        run.alerts
    );
    let alert = &run.alerts[0];
    assert_eq!(
        alert.title,
        "Ransomware behaviour: files overwritten with encrypted content"
    );
    let c = alert.correlation.as_ref().unwrap();
    assert_eq!(c.count, 5);
    assert_eq!(c.group, vec![("ProcessId".into(), "500".into())]);
    assert_eq!(alert.events.last().unwrap().process.key.pid, 500);
}

#[test]
fn rewrites_that_keep_the_type_are_quiet() {
    let mut run = Run::new();
    let p = proc_(500, Some(100), Some("ann"));
    for i in 0..50 {
        run.write(&p, &format!("/home/ann/notes/n{i}.txt"), text());
        run.write(&p, &format!("/home/ann/arch/a{i}.gz"), gzip(i));
        // High entropy where the name promises nothing is not evidence either.
        run.write(&p, &format!("/home/ann/cache/c{i}.bin"), opaque(i));
    }
    assert!(run.alerts.is_empty(), "{:?}", run.alerts);
}

#[test]
fn a_text_file_turned_partly_random_is_evidence() {
    let mut run = Run::new();
    let p = proc_(500, None, Some("ann"));
    let source = b"id,name,amount\n1,ann,10\n".repeat(200);
    let noise = random(source.len(), 3);
    let intermittent: Vec<u8> = source
        .iter()
        .zip(&noise)
        .enumerate()
        .map(|(i, (&t, &r))| if (i / 512) % 2 == 1 { r } else { t })
        .collect();
    for i in 0..5 {
        let sample = measure_head(&intermittent[..4096], 4800, None);
        run.write(&p, &format!("/srv/data/t{i}.csv"), sample);
    }
    assert_eq!(run.levels(rules::FILES), vec![Level::High]);
}

#[test]
fn copy_encrypt_delete_by_one_process_per_file_is_one_actor() {
    let mut run = Run::new();
    for i in 0..6_u32 {
        // `openssl enc` then `rm`, each its own short-lived child of the shell 300.
        let enc = proc_(1000 + 2 * i, Some(300), Some("ann"));
        let rm = proc_(1001 + 2 * i, Some(300), Some("ann"));
        let f = format!("/home/ann/docs/r{i}.pdf");
        run.create(&enc, &format!("{f}.enc"), opaque(u64::from(i)));
        run.delete(&rm, &f);
    }
    let files = run.levels(rules::FILES);
    assert_eq!(files, vec![Level::High], "{:?}", run.alerts);
    let alert = run
        .alerts
        .iter()
        .find(|a| a.rule_id == rules::FILES)
        .unwrap();
    assert_eq!(
        alert.correlation.as_ref().unwrap().group,
        vec![("ParentProcessId".into(), "300".into())]
    );
    assert_eq!(
        alert.title,
        "Ransomware behaviour: files replaced by encrypted copies"
    );
}

#[test]
fn processes_gone_before_attribution_still_add_up_on_the_host() {
    let mut run = Run::new();
    for i in 0..7_u32 {
        let gone = proc_(2000 + i, None, None);
        let f = format!("/data/x{i}.xlsx");
        run.delete(&gone, &f);
        run.create(
            &gone,
            &format!("/data/x{i}.xlsx.crypt"),
            opaque(u64::from(i)),
        );
    }
    assert_eq!(run.high_or_above(), 0, "the host threshold is higher");
    let gone = proc_(2100, None, None);
    run.delete(&gone, "/data/x7.xlsx");
    run.create(&gone, "/data/x7.xlsx.crypt", opaque(77));
    assert_eq!(run.levels(rules::FILES), vec![Level::High]);
    assert_eq!(
        run.alerts[0].correlation.as_ref().unwrap().group,
        vec![("Host".into(), "*".into())]
    );
}

#[test]
fn gzip_recursive_and_archive_extraction_are_quiet() {
    let mut run = Run::new();
    let gz = proc_(600, Some(100), Some("ann"));
    for i in 0..40 {
        let f = format!("/home/ann/logs/l{i}.txt");
        run.create(&gz, &format!("{f}.gz"), gzip(i));
        run.delete(&gz, &f);
    }
    let tar = proc_(601, Some(100), Some("ann"));
    for i in 0..40 {
        run.create(&tar, &format!("/home/ann/src/d{i}/README.txt"), text());
        run.create(&tar, &format!("/home/ann/src/d{i}/blob{i}.bin"), opaque(i));
    }
    assert!(run.alerts.is_empty(), "{:?}", run.alerts);
}

#[test]
fn rename_only_to_an_unknown_extension_by_an_mv_loop() {
    let mut run = Run::new();
    for i in 0..6_u32 {
        let mv = proc_(3000 + i, Some(400), Some("bob"));
        let f = format!("/home/bob/pics/p{i}.jpg");
        run.disk.insert(f.clone(), text());
        run.rename(&mv, &f, &format!("{f}.x7k2p"));
    }
    run.idle(1);
    assert_eq!(run.high_or_above(), 0, "six renames at 0.75 are 4.5 points");
    let mv = proc_(3010, Some(400), Some("bob"));
    run.rename(&mv, "/home/bob/pics/p9.jpg", "/home/bob/pics/p9.jpg.x7k2p");
    run.idle(1);
    assert_eq!(run.levels(rules::FILES), vec![Level::High]);
    assert_eq!(
        run.alerts[0].title,
        "Ransomware behaviour: files renamed to an unknown extension"
    );
}

#[test]
fn backup_renames_and_temp_commits_are_quiet() {
    let mut run = Run::new();
    let sed = proc_(700, Some(100), Some("ann"));
    let perl = proc_(701, Some(100), Some("ann"));
    let odd = proc_(702, Some(100), Some("ann"));
    for i in 0..60 {
        // sed -i.bak: temp file written, original renamed to .bak, temp renamed into place.
        let f = format!("/home/ann/a/s{i}.txt");
        run.create(&sed, &format!("/home/ann/a/sedAb{i:03}"), text());
        run.rename(&sed, &f, &format!("{f}.bak"));
        run.rename(&sed, &format!("/home/ann/a/sedAb{i:03}"), &f);
        // perl -pi.orig: renamed away, re-created under the old name.
        let g = format!("/home/ann/b/p{i}.conf");
        run.rename(&perl, &g, &format!("{g}.orig"));
        run.create(&perl, &g, text());
        // A tool with its own backup suffix that re-creates the original right away.
        let h = format!("/home/ann/c/q{i}.txt");
        run.rename(&odd, &h, &format!("{h}.prev-version"));
        run.create(&odd, &h, text());
        // rsync: dot-temp renamed into place.
        let r = format!("/home/ann/d/r{i}.pdf");
        run.create(&odd, &format!("/home/ann/d/.r{i}.pdf.Xy12Zq"), text());
        run.rename(&odd, &format!("/home/ann/d/.r{i}.pdf.Xy12Zq"), &r);
        // Log rotation.
        run.rename(&odd, "/var/log/app.log.1", "/var/log/app.log.2");
        run.rename(&odd, "/var/log/app.log", "/var/log/app.log.1");
        run.create(&odd, "/var/log/app.log", text());
    }
    run.idle(2);
    assert!(run.alerts.is_empty(), "{:?}", run.alerts);
}

#[test]
fn encrypt_then_rename_is_seen_on_the_new_name() {
    let mut run = Run::new();
    let p = proc_(800, Some(100), Some("ann"));
    for i in 0..5 {
        let f = format!("/home/ann/docs/e{i}.odt");
        // The close is sampled after the rename: the old name is gone, the new one is read.
        run.event(Operation::CloseModified, &p, &f, None);
        run.disk.insert(format!("{f}.locked"), opaque(i));
        run.event(Operation::Rename, &p, &format!("{f}.locked"), Some(&f));
    }
    assert_eq!(
        run.levels(rules::FILES),
        vec![Level::High],
        "{:?}",
        run.alerts
    );
    assert_eq!(
        run.alerts[0].title,
        "Ransomware behaviour: files encrypted and renamed"
    );
}

#[test]
fn ransom_notes_in_three_folders_alert_and_readmes_do_not() {
    let mut run = Run::new();
    let extract = proc_(900, Some(100), Some("ann"));
    for i in 0..20 {
        run.create(&extract, &format!("/home/ann/pkg/d{i}/README.txt"), text());
    }
    assert!(run.alerts.is_empty());
    let dropper = proc_(901, Some(100), Some("ann"));
    run.create(&dropper, "/home/ann/a/HOW_TO_DECRYPT.txt", note());
    assert_eq!(run.high_or_above(), 0, "one folder is not a spread");
    run.create(&dropper, "/home/ann/b/HOW_TO_DECRYPT.txt", note());
    assert_eq!(
        run.high_or_above(),
        0,
        "a note and one copy are not a spread"
    );
    run.create(&dropper, "/home/ann/c/HOW_TO_DECRYPT.txt", note());
    assert_eq!(run.levels(rules::NOTES), vec![Level::High]);
}

/// Note-like text of its own (what a copied source tree or rule set holds).
fn note_like(i: usize) -> Sample {
    let text = format!(
        "// file {i}: decrypt the payload, check the wallet balance in btc, retry in 2 hours"
    );
    measure_head(text.as_bytes(), text.len() as u64, None)
}

/// One process writes note-like files of different texts, one per folder: no note alert.
fn assert_copy_is_quiet(pid: u32, files: usize, path_of: impl Fn(usize) -> String) {
    let mut run = Run::new();
    let cp = proc_(pid, Some(100), Some("ann"));
    for i in 0..files {
        run.create(&cp, &path_of(i), note_like(i));
    }
    assert_eq!(run.high_or_above(), 0, "{:?}", run.alerts);
}

#[test]
fn a_copied_tree_of_note_like_files_is_not_a_note_spread() {
    assert!(
        note_like(0).is_ransom_note(),
        "the fixture must read as a note"
    );
    // A security tool's sources: a name and a text per folder.
    assert_copy_is_quiet(905, 12, |i| format!("/home/ann/copy/d{i}/module{i}.rs"));
    // A research repository's README per malware family: one name, many texts.
    assert_copy_is_quiet(907, 6, |i| {
        format!("/home/ann/research/family{i}/README.md")
    });
}

#[test]
fn one_note_text_under_random_names_is_a_spread() {
    let mut run = Run::new();
    let dropper = proc_(906, Some(100), Some("ann"));
    run.create(&dropper, "/home/ann/a/x7Qk2-README.txt", note());
    run.create(&dropper, "/home/ann/b/Zp91w-README.txt", note());
    assert_eq!(run.high_or_above(), 0);
    run.create(&dropper, "/home/ann/c/q0Vb8-README.txt", note());
    assert_eq!(run.levels(rules::NOTES), vec![Level::High]);
}

#[test]
fn encryption_with_notes_is_critical_and_alerts_do_not_repeat() {
    let mut run = Run::new();
    let p = proc_(950, None, Some("eve"));
    for i in 0..60 {
        run.write(&p, &format!("/home/eve/d{}/f{i}.pdf", i % 3), opaque(i));
    }
    for d in 0..3 {
        run.create(&p, &format!("/home/eve/d{d}/README_RESTORE.txt"), note());
    }
    let high = run.levels(rules::FILES);
    let critical = run.levels(rules::CRITICAL);
    assert_eq!(high, vec![Level::High], "{:?}", run.alerts);
    assert_eq!(critical, vec![Level::Critical], "{:?}", run.alerts);
    assert!(run.levels(rules::NOTES).len() <= 1);
}

#[test]
fn state_stays_bounded() {
    let mut run = Run::new();
    run.engine = Engine::new(EngineConfig {
        max_files: 100,
        max_pairs: 100,
        max_actors: 50,
        ..EngineConfig::default()
    });
    for i in 0..1500_u32 {
        let p = proc_(10_000 + i, None, None);
        run.delete(&p, &format!("/x/{i}.docx"));
        run.create(&p, &format!("/y/{i}.bin"), opaque(u64::from(i)));
        run.rename(&p, &format!("/z/{i}.txt"), &format!("/z/{i}.txt.qq"));
    }
    let e = &run.engine;
    assert!(e.deleted.len() <= 100 && e.opaque_new.len() <= 100 && e.pending.len() <= 100);
    assert!(e.born.len() <= 100 && e.born_order.len() <= 100);
    assert!(e.groups.len() <= 51, "{}", e.groups.len());
}

#[test]
fn ciphertext_renamed_over_the_document_is_evidence_and_an_editor_save_is_not() {
    let mut run = Run::new();
    let editor = proc_(1100, Some(100), Some("ann"));
    let evil = proc_(1101, Some(100), Some("ann"));
    for i in 0..20 {
        let doc = format!("/home/ann/w/d{i}.txt");
        let tmp = format!("/home/ann/w/.d{i}.txt.swx");
        run.create(&editor, &tmp, text());
        run.rename(&editor, &tmp, &doc);
    }
    assert!(run.alerts.is_empty(), "{:?}", run.alerts);
    for i in 0..5 {
        let doc = format!("/home/ann/w/d{i}.txt");
        let tmp = format!("/home/ann/w/d{i}.txt.tmp");
        run.create(&evil, &tmp, opaque(i));
        run.rename(&evil, &tmp, &doc);
    }
    assert_eq!(
        run.levels(rules::FILES),
        vec![Level::High],
        "{:?}",
        run.alerts
    );
}
