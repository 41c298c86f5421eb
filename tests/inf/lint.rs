//! The rules Picket's INF must follow, checked without Windows.
//!
//! `infverif` only runs on Windows; these checks make a broken INF fail Linux CI too. They
//! encode Microsoft's rules for primitive drivers (Windows 10 1903+; Picket itself needs 2004+) and minifilter INFs,
//! plus Picket's fixed names. Each problem is a distinct value, so a test can assert that a
//! given mistake produces exactly the problem it should.

use std::fmt;

use super::parse::{Entry, Field, Inf};

/// Names and values the whole project relies on.
pub mod expect {
    pub const SIGNATURE: &str = "$WINDOWS NT$";
    pub const CLASS: &str = "ActivityMonitor";
    pub const CLASS_GUID: &str = "{b86dff51-a31e-4bac-b3cf-e8cfe75c9fc2}";
    pub const CATALOG: &str = "picket_driver.cat";
    pub const BINARY: &str = "picket_driver.sys";
    pub const SERVICE: &str = "Picket";
    pub const DISPLAY_NAME: &str = "Picket File Activity Sensor";
    pub const INSTANCE: &str = "Picket Instance";
    pub const LOAD_ORDER_GROUP: &str = "FSFilter Activity Monitor";
    /// `SERVICE_FILE_SYSTEM_DRIVER`.
    pub const SERVICE_TYPE: u32 = 2;
    /// `SERVICE_DEMAND_START`: the VM harness loads the filter with `fltmc load`.
    pub const START_TYPE: u32 = 3;
    /// `SERVICE_ERROR_NORMAL`.
    pub const ERROR_CONTROL: u32 = 1;
    /// The FSFilter Activity Monitor load order group's altitude range.
    pub const ALTITUDES: std::ops::RangeInclusive<u32> = 360_000..=389_999;
    /// From this build on (Windows 11 24H2) a minifilter can run from the driver store
    /// (DIRID 13) and Filter Manager reads its instances under `Parameters`.
    pub const PARAMETERS_BUILD: u32 = 25_952;
    /// Windows 10 2004: the oldest build the driver loads on (it allocates with
    /// `ExAllocatePool2`, which older kernels do not export). Primitive-driver INFs work from
    /// 1903 (18362), so the downlevel section must say 19041 explicitly.
    pub const MIN_BUILD: u32 = 19_041;
    /// Architectures Picket is built for; `$ARCH$` in the template.
    pub const ARCHES: [&str; 3] = ["$ARCH$", "amd64", "arm64"];
}

/// One thing wrong with the INF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    MissingSection(String),
    /// A `[Version]` entry is missing or wrong.
    Version {
        key: &'static str,
        expected: String,
        found: Option<String>,
    },
    /// `%strkey%` without a `[Strings]` entry.
    UndefinedString {
        section: String,
        token: String,
    },
    /// Primitive drivers may not have a `[Manufacturer]` section.
    ManufacturerSection,
    /// `[DefaultInstall]` sections must carry an architecture decoration.
    UndecoratedDefaultInstall(String),
    /// A decoration that is not `NT<arch>[.10.0...<build>]`.
    BadDecoration(String),
    /// `[DefaultUninstall]` is prohibited for primitive drivers unless `LegacyUninstall=1`.
    DefaultUninstall(String),
    /// No install section for builds with the `Parameters` layout and DIRID 13.
    NoCurrentInstall,
    /// No install section for Windows 10 2004 up to that build.
    NoDownlevelInstall,
    /// An install section that also applies to builds the driver cannot load on.
    InstallsTooEarly {
        section: String,
    },
    MissingServicesSection(String),
    /// The `.Services` section does not add exactly the Picket service.
    AddService {
        section: String,
        problem: String,
    },
    /// A service-install entry is missing or wrong.
    Service {
        section: String,
        key: &'static str,
        expected: String,
        found: Option<String>,
    },
    /// DIRID 13 used by an install section that also applies to builds before 25952.
    Dirid13TooEarly {
        section: String,
    },
    /// An install section for build 25952+ that does not run the driver from the store.
    NotRunFromDriverStore {
        section: String,
    },
    /// `CopyFiles` does not put the driver where `ServiceBinary` loads it from.
    BinaryNotCopied {
        section: String,
        dirid: String,
    },
    /// `[SourceDisksFiles]` does not list the driver.
    NotInSourceDisks,
    /// A required registry value is absent.
    RegistryMissing {
        section: String,
        key: String,
        value: &'static str,
    },
    /// A registry value of the wrong type (`REG_SZ` / `REG_DWORD`).
    RegistryType {
        section: String,
        key: String,
        value: &'static str,
        expected: &'static str,
    },
    /// A registry value with the wrong content.
    RegistryValue {
        section: String,
        key: String,
        value: &'static str,
        expected: String,
        found: String,
    },
    AltitudeOutOfRange {
        section: String,
        altitude: String,
    },
    AltitudeNotANumber {
        section: String,
        altitude: String,
    },
    /// The install sections do not agree on the altitude.
    AltitudeMismatch(Vec<String>),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Problem::*;
        let or_missing = |v: &Option<String>| v.clone().unwrap_or_else(|| "(missing)".into());
        match self {
            MissingSection(s) => write!(f, "section [{s}] is missing"),
            Version { key, expected, found } => write!(
                f,
                "[Version] {key}: expected {expected}, found {}",
                or_missing(found)
            ),
            UndefinedString { section, token } => {
                write!(f, "[{section}]: %{token}% is not defined in [Strings]")
            }
            ManufacturerSection => write!(
                f,
                "a primitive driver must not have a [Manufacturer] section (infverif error 1297)"
            ),
            UndecoratedDefaultInstall(s) => write!(
                f,
                "[{s}] has no architecture decoration; primitive drivers need [DefaultInstall.NT$ARCH$]"
            ),
            BadDecoration(s) => write!(
                f,
                "[{s}]: decoration must be NT<arch>[.10.0...<build>] with arch one of {:?}",
                expect::ARCHES
            ),
            DefaultUninstall(s) => write!(
                f,
                "[{s}] is prohibited for primitive drivers unless it holds LegacyUninstall=1"
            ),
            NoCurrentInstall => write!(
                f,
                "no [DefaultInstall.NT$ARCH$.10.0...{}] section for Windows 11 24H2 and later",
                expect::PARAMETERS_BUILD
            ),
            NoDownlevelInstall => write!(
                f,
                "no [DefaultInstall.NT$ARCH$.10.0...{}] section for Windows 10 2004 and later",
                expect::MIN_BUILD
            ),
            InstallsTooEarly { section } => write!(
                f,
                "[{section}] applies to builds before {} (Windows 10 2004), where the driver \
                 cannot load (no ExAllocatePool2); decorate it with .10.0...{}",
                expect::MIN_BUILD,
                expect::MIN_BUILD
            ),
            MissingServicesSection(s) => write!(f, "[{s}.Services] is missing"),
            AddService { section, problem } => write!(f, "[{section}] AddService: {problem}"),
            Service { section, key, expected, found } => write!(
                f,
                "[{section}] {key}: expected {expected}, found {}",
                or_missing(found)
            ),
            Dirid13TooEarly { section } => write!(
                f,
                "[{section}] uses DIRID 13 but applies to builds before {}; \
                 decorate it with .10.0...{} or use DIRID 12",
                expect::PARAMETERS_BUILD,
                expect::PARAMETERS_BUILD
            ),
            NotRunFromDriverStore { section } => write!(
                f,
                "[{section}] applies to build {}+ but does not install to DIRID 13",
                expect::PARAMETERS_BUILD
            ),
            BinaryNotCopied { section, dirid } => write!(
                f,
                "[{section}] CopyFiles does not copy {} to DIRID {dirid}, where ServiceBinary loads it",
                expect::BINARY
            ),
            NotInSourceDisks => write!(f, "[SourceDisksFiles] does not list {}", expect::BINARY),
            RegistryMissing { section, key, value } => {
                write!(f, "[{section}] sets no HKR \"{key}\" \"{value}\"")
            }
            RegistryType { section, key, value, expected } => {
                write!(f, "[{section}] HKR \"{key}\" \"{value}\" must be {expected}")
            }
            RegistryValue { section, key, value, expected, found } => write!(
                f,
                "[{section}] HKR \"{key}\" \"{value}\": expected {expected}, found {found}"
            ),
            AltitudeOutOfRange { section, altitude } => write!(
                f,
                "[{section}] altitude {altitude} is outside the FSFilter Activity Monitor range {}-{}",
                expect::ALTITUDES.start(),
                expect::ALTITUDES.end()
            ),
            AltitudeNotANumber { section, altitude } => {
                write!(f, "[{section}] altitude `{altitude}` is not a decimal number")
            }
            AltitudeMismatch(found) => {
                write!(f, "install sections disagree on the altitude: {found:?}")
            }
        }
    }
}

/// A `[DefaultInstall...]` section name, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decoration {
    arch: String,
    /// Minimum build (`NT<arch>.10.0...<build>`); `None` applies to every build.
    build: Option<u32>,
}

/// Parses the part after `DefaultInstall.`: `NT<arch>[.<major>.<minor>[.<type>[.<suite>[.<build>]]]]`.
fn parse_decoration(decoration: &str) -> Option<Decoration> {
    let mut parts = decoration.split('.');
    let platform = parts.next()?;
    let arch = platform
        .get(..2)
        .filter(|nt| nt.eq_ignore_ascii_case("NT"))
        .map(|_| &platform[2..])?;
    if !expect::ARCHES.iter().any(|a| a.eq_ignore_ascii_case(arch)) {
        return None;
    }
    let rest: Vec<&str> = parts.collect();
    let build = match rest.as_slice() {
        [] => None,
        [major, minor, more @ ..] if more.len() <= 3 => {
            major.parse::<u32>().ok()?;
            minor.parse::<u32>().ok()?;
            match more {
                [_, _, build] if !build.is_empty() => Some(build.parse().ok()?),
                _ => None,
            }
        }
        _ => return None,
    };
    Some(Decoration {
        arch: arch.to_owned(),
        build,
    })
}

/// Checks the INF and returns every problem found, in a stable order.
pub fn lint(inf: &Inf) -> Vec<Problem> {
    let mut problems = Vec::new();
    undefined_strings(inf, &mut problems);
    version(inf, &mut problems);
    structure(inf, &mut problems);
    let mut altitudes = Vec::new();
    let installs = install_sections(inf, &mut problems);
    let has_current = installs
        .iter()
        .any(|(_, d)| d.build.is_some_and(|b| b >= expect::PARAMETERS_BUILD));
    let has_downlevel = installs
        .iter()
        .any(|(_, d)| d.build.is_none_or(|b| b <= expect::MIN_BUILD));
    if !has_current {
        problems.push(Problem::NoCurrentInstall);
    }
    if !has_downlevel {
        problems.push(Problem::NoDownlevelInstall);
    }
    for (name, decoration) in &installs {
        if decoration.build.is_none_or(|b| b < expect::MIN_BUILD) {
            problems.push(Problem::InstallsTooEarly {
                section: name.clone(),
            });
        }
        install(inf, name, decoration, &mut problems, &mut altitudes);
    }
    source_disks(inf, &mut problems);
    altitudes.sort();
    altitudes.dedup();
    if altitudes.len() > 1 {
        problems.push(Problem::AltitudeMismatch(altitudes));
    }
    problems
}

fn undefined_strings(inf: &Inf, problems: &mut Vec<Problem>) {
    for section in &inf.sections {
        if section.name.eq_ignore_ascii_case("Strings") {
            continue;
        }
        for entry in &section.entries {
            for field in entry.key.iter().chain(&entry.values) {
                if let Err(super::parse::ExpandError::Undefined(token)) = inf.expand(field) {
                    let problem = Problem::UndefinedString {
                        section: section.name.clone(),
                        token,
                    };
                    if !problems.contains(&problem) {
                        problems.push(problem);
                    }
                }
            }
        }
    }
}

/// The expanded value of `key` in `section`, its fields joined with `,` as written
/// (`DriverVer = date,version`).
fn value(inf: &Inf, section: &str, key: &str) -> Option<String> {
    let entry = inf.section(section)?.entry(key)?;
    let fields: Vec<String> = entry.values.iter().map(|f| inf.expand_lossy(f)).collect();
    Some(fields.join(","))
}

fn version(inf: &Inf, problems: &mut Vec<Problem>) {
    if inf.section("Version").is_none() {
        problems.push(Problem::MissingSection("Version".into()));
        return;
    }
    let mut check = |key: &'static str, expected: &str, ok: &dyn Fn(&str) -> bool| {
        let found = value(inf, "Version", key);
        if !found.as_deref().is_some_and(ok) {
            problems.push(Problem::Version {
                key,
                expected: expected.to_owned(),
                found,
            });
        }
    };
    let same = |want: &'static str| move |v: &str| v.eq_ignore_ascii_case(want);
    check("Signature", expect::SIGNATURE, &same(expect::SIGNATURE));
    check("Class", expect::CLASS, &same(expect::CLASS));
    check("ClassGuid", expect::CLASS_GUID, &same(expect::CLASS_GUID));
    check("Provider", "a provider other than Microsoft", &|v| {
        !v.trim().is_empty() && !v.to_ascii_lowercase().contains("microsoft")
    });
    check(
        "DriverVer",
        "empty (stamped by stampinf) or mm/dd/yyyy,w.x.y.z",
        &|v| v.is_empty() || is_driver_ver(v),
    );
    check("CatalogFile", expect::CATALOG, &same(expect::CATALOG));
    check("PnpLockdown", "1", &same("1"));
}

/// `mm/dd/yyyy,w.x.y.z` (stampinf also writes it without the version part only on request).
fn is_driver_ver(text: &str) -> bool {
    let Some((date, version)) = text.split_once(',') else {
        return false;
    };
    let date: Vec<&str> = date.trim().split('/').collect();
    let date_ok = matches!(date.as_slice(), [m, d, y]
        if m.len() <= 2 && d.len() <= 2 && y.len() == 4
            && [m, d, y].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())));
    let version: Vec<&str> = version.trim().split('.').collect();
    let version_ok = version.len() == 4 && version.iter().all(|p| p.parse::<u16>().is_ok());
    date_ok && version_ok
}

fn structure(inf: &Inf, problems: &mut Vec<Problem>) {
    if inf.section("Manufacturer").is_some() {
        problems.push(Problem::ManufacturerSection);
    }
    for section in &inf.sections {
        let lower = section.name.to_ascii_lowercase();
        if lower == "defaultinstall" || lower == "defaultinstall.services" {
            problems.push(Problem::UndecoratedDefaultInstall(section.name.clone()));
        }
        if lower.starts_with("defaultuninstall") {
            let legacy = value(inf, &section.name, "LegacyUninstall");
            let services = lower.ends_with(".services");
            if !services && legacy.as_deref() != Some("1") {
                problems.push(Problem::DefaultUninstall(section.name.clone()));
            }
        }
    }
}

/// The `[DefaultInstall.<decoration>]` sections (not `.Services`), with their decorations.
fn install_sections(inf: &Inf, problems: &mut Vec<Problem>) -> Vec<(String, Decoration)> {
    let mut out = Vec::new();
    for section in &inf.sections {
        let name = &section.name;
        let Some(decoration) = name
            .get(.."DefaultInstall.".len())
            .filter(|p| p.eq_ignore_ascii_case("DefaultInstall."))
            .map(|_| &name["DefaultInstall.".len()..])
        else {
            continue;
        };
        let base = match decoration.len().checked_sub(".Services".len()) {
            Some(at) if decoration[at..].eq_ignore_ascii_case(".Services") => &decoration[..at],
            _ => decoration,
        };
        match parse_decoration(base) {
            Some(parsed) if base.len() == decoration.len() => out.push((name.clone(), parsed)),
            Some(_) => {} // the .Services half of a well-decorated section
            None => {
                if base.eq_ignore_ascii_case("Services") || base.is_empty() {
                    continue; // undecorated: reported by `structure`
                }
                problems.push(Problem::BadDecoration(name.clone()));
            }
        }
    }
    out
}

/// Splits a comma list value (`CopyFiles = a, b`) into expanded names.
fn names(inf: &Inf, entry: &Entry) -> Vec<String> {
    entry
        .values
        .iter()
        .filter(|f| !f.is_empty())
        .map(|f| inf.expand_lossy(f))
        .collect()
}

fn install(
    inf: &Inf,
    name: &str,
    decoration: &Decoration,
    problems: &mut Vec<Problem>,
    altitudes: &mut Vec<String>,
) {
    let current = decoration
        .build
        .is_some_and(|b| b >= expect::PARAMETERS_BUILD);
    let services_name = format!("{name}.Services");
    let Some(services) = inf.section(&services_name) else {
        problems.push(Problem::MissingServicesSection(name.to_owned()));
        return;
    };
    let adds: Vec<&Entry> = services.entries_for("AddService").collect();
    let add_problem = |problem: String| Problem::AddService {
        section: services_name.clone(),
        problem,
    };
    let service_section = match adds.as_slice() {
        [add] => {
            let fields: Vec<String> = add.values.iter().map(|f| inf.expand_lossy(f)).collect();
            if !fields
                .first()
                .is_some_and(|s| s.eq_ignore_ascii_case(expect::SERVICE))
            {
                problems.push(add_problem(format!(
                    "service name must be `{}`, found `{}`",
                    expect::SERVICE,
                    fields.first().cloned().unwrap_or_default()
                )));
            }
            match fields.get(2).filter(|s| !s.is_empty()) {
                Some(section) => section.clone(),
                None => {
                    problems.push(add_problem("no service-install section named".into()));
                    return;
                }
            }
        }
        [] => {
            problems.push(add_problem("no AddService entry".into()));
            return;
        }
        _ => {
            problems.push(add_problem(format!(
                "{} AddService entries; a minifilter package adds one service",
                adds.len()
            )));
            return;
        }
    };
    if inf.section(&service_section).is_none() {
        problems.push(Problem::MissingSection(service_section));
        return;
    }
    let binary_dirid = service(inf, &service_section, problems);
    let copies = copy_dirids(inf, name);
    if let Some(dirid) = &binary_dirid {
        if !copies.contains(dirid) {
            problems.push(Problem::BinaryNotCopied {
                section: name.to_owned(),
                dirid: dirid.clone(),
            });
        }
    }
    let uses_13 = binary_dirid.as_deref() == Some("13") || copies.iter().any(|d| d == "13");
    if uses_13 && !current {
        problems.push(Problem::Dirid13TooEarly {
            section: name.to_owned(),
        });
    }
    if current && binary_dirid.as_deref() != Some("13") {
        problems.push(Problem::NotRunFromDriverStore {
            section: name.to_owned(),
        });
    }
    let instances_key = if current {
        "Parameters\\Instances"
    } else {
        "Instances"
    };
    if let Some(altitude) = registry(inf, &service_section, instances_key, problems) {
        altitudes.push(altitude);
    }
}

/// Checks a service-install section; returns the DIRID its `ServiceBinary` loads from.
fn service(inf: &Inf, section: &str, problems: &mut Vec<Problem>) -> Option<String> {
    let mut check = |key: &'static str, expected: String, ok: &dyn Fn(&str) -> bool| {
        let found = value(inf, section, key);
        if !found.as_deref().is_some_and(ok) {
            problems.push(Problem::Service {
                section: section.to_owned(),
                key,
                expected,
                found,
            });
        }
    };
    let number = |want: u32| move |v: &str| parse_number(v) == Some(want);
    check(
        "ServiceType",
        expect::SERVICE_TYPE.to_string(),
        &number(expect::SERVICE_TYPE),
    );
    check(
        "StartType",
        expect::START_TYPE.to_string(),
        &number(expect::START_TYPE),
    );
    check(
        "ErrorControl",
        expect::ERROR_CONTROL.to_string(),
        &number(expect::ERROR_CONTROL),
    );
    check("LoadOrderGroup", expect::LOAD_ORDER_GROUP.into(), &|v| {
        v.eq_ignore_ascii_case(expect::LOAD_ORDER_GROUP)
    });
    check("DisplayName", expect::DISPLAY_NAME.into(), &|v| {
        v == expect::DISPLAY_NAME
    });
    // Dependencies is a list; FltMgr must be in it.
    let dependencies = inf
        .section(section)
        .and_then(|s| s.entry("Dependencies"))
        .map(|e| names(inf, e));
    if !dependencies
        .as_ref()
        .is_some_and(|d| d.iter().any(|n| n.eq_ignore_ascii_case("FltMgr")))
    {
        problems.push(Problem::Service {
            section: section.to_owned(),
            key: "Dependencies",
            expected: "FltMgr".into(),
            found: dependencies.map(|d| d.join(",")),
        });
    }
    let binary = value(inf, section, "ServiceBinary");
    let dirid = binary.as_deref().and_then(|b| {
        let rest = b.strip_prefix('%')?;
        let (dirid, file) = rest.split_once("%\\")?;
        (dirid.chars().all(|c| c.is_ascii_digit()) && file.eq_ignore_ascii_case(expect::BINARY))
            .then(|| dirid.to_owned())
    });
    if dirid.is_none() {
        problems.push(Problem::Service {
            section: section.to_owned(),
            key: "ServiceBinary",
            expected: format!("%<dirid>%\\{}", expect::BINARY),
            found: binary,
        });
    }
    dirid
}

/// The DIRIDs the install section's `CopyFiles` sections copy the driver to.
fn copy_dirids(inf: &Inf, install: &str) -> Vec<String> {
    let destinations = inf.section("DestinationDirs");
    let dirid_of = |copy: &str| -> Option<String> {
        let dirs = destinations?;
        let entry = dirs.entry(copy).or_else(|| dirs.entry("DefaultDestDir"))?;
        entry.values.first().map(|f| inf.expand_lossy(f))
    };
    let Some(entries) = inf.section(install).map(|s| s.entries_for("CopyFiles")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries {
        for copy in names(inf, entry) {
            let copies_binary = match copy.strip_prefix('@') {
                // `CopyFiles = @file.sys` copies one file to DefaultDestDir.
                Some(file) => file.eq_ignore_ascii_case(expect::BINARY),
                None => inf.section(&copy).is_some_and(|s| {
                    s.entries.iter().any(|e| {
                        e.values.first().is_some_and(|f| {
                            inf.expand_lossy(f).eq_ignore_ascii_case(expect::BINARY)
                        })
                    })
                }),
            };
            let target = if copy.starts_with('@') {
                dirid_of("DefaultDestDir")
            } else {
                dirid_of(&copy)
            };
            if let (true, Some(dirid)) = (copies_binary, target) {
                out.push(dirid);
            }
        }
    }
    out
}

/// An `HKR` value as written by an AddReg section.
struct RegValue {
    /// `FLG_ADDREG_TYPE_*` part of the flags.
    kind: u32,
    data: String,
}

const REG_SZ: u32 = 0x0000_0000;
const REG_DWORD: u32 = 0x0001_0001;
const FLG_ADDREG_TYPE_MASK: u32 = 0xFFFF_0001;

fn parse_number(text: &str) -> Option<u32> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Finds `HKR,<key>,<value>` in the AddReg sections of a service-install section.
fn find_reg(inf: &Inf, add_regs: &[String], key: &str, name: &str) -> Option<RegValue> {
    for section in add_regs.iter().filter_map(|s| inf.section(s)) {
        for entry in section.entries.iter().filter(|e| e.key.is_none()) {
            let field = |i: usize| entry.values.get(i).map(|f: &Field| inf.expand_lossy(f));
            let root = field(0).unwrap_or_default();
            let subkey = field(1).unwrap_or_default();
            let value = field(2).unwrap_or_default();
            if root.eq_ignore_ascii_case("HKR")
                && subkey.eq_ignore_ascii_case(key)
                && value.eq_ignore_ascii_case(name)
            {
                let flags = field(3)
                    .filter(|f| !f.is_empty())
                    .map_or(Some(0), |f| parse_number(&f));
                return Some(RegValue {
                    kind: flags.map_or(u32::MAX, |f| f & FLG_ADDREG_TYPE_MASK),
                    data: field(4).unwrap_or_default(),
                });
            }
        }
    }
    None
}

/// Checks the instance values; returns the altitude when it is well-formed.
fn registry(
    inf: &Inf,
    service_section: &str,
    instances: &str,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let add_regs: Vec<String> = inf
        .section(service_section)
        .map(|s| {
            s.entries_for("AddReg")
                .flat_map(|e| names(inf, e))
                .collect()
        })
        .unwrap_or_default();
    let section = add_regs
        .first()
        .cloned()
        .unwrap_or_else(|| service_section.to_owned());
    let mut get =
        |key: &str, value: &'static str, kind: u32, expected_type: &'static str| match find_reg(
            inf, &add_regs, key, value,
        ) {
            None => {
                problems.push(Problem::RegistryMissing {
                    section: section.clone(),
                    key: key.to_owned(),
                    value,
                });
                None
            }
            Some(v) if v.kind != kind => {
                problems.push(Problem::RegistryType {
                    section: section.clone(),
                    key: key.to_owned(),
                    value,
                    expected: expected_type,
                });
                None
            }
            Some(v) => Some(v.data),
        };
    let default = get(instances, "DefaultInstance", REG_SZ, "REG_SZ");
    let instance_key = format!("{instances}\\{}", expect::INSTANCE);
    let altitude = get(&instance_key, "Altitude", REG_SZ, "REG_SZ");
    let flags = get(&instance_key, "Flags", REG_DWORD, "REG_DWORD");
    if let Some(default) = default {
        if default != expect::INSTANCE {
            problems.push(Problem::RegistryValue {
                section: section.clone(),
                key: instances.to_owned(),
                value: "DefaultInstance",
                expected: expect::INSTANCE.into(),
                found: default,
            });
        }
    }
    if let Some(flags) = flags {
        // 0: attach to every volume automatically, which the VM harness relies on.
        if parse_number(&flags) != Some(0) {
            problems.push(Problem::RegistryValue {
                section: section.clone(),
                key: instance_key.clone(),
                value: "Flags",
                expected: "0x0".into(),
                found: flags,
            });
        }
    }
    let altitude = altitude?;
    let integer = altitude
        .split_once('.')
        .map_or(altitude.as_str(), |(i, _)| i);
    let well_formed = !integer.is_empty()
        && altitude.split('.').count() <= 2
        && altitude
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    match integer.parse::<u32>() {
        Ok(n) if well_formed && expect::ALTITUDES.contains(&n) => Some(altitude),
        Ok(_) if well_formed => {
            problems.push(Problem::AltitudeOutOfRange { section, altitude });
            None
        }
        _ => {
            problems.push(Problem::AltitudeNotANumber { section, altitude });
            None
        }
    }
}

fn source_disks(inf: &Inf, problems: &mut Vec<Problem>) {
    let listed = inf.section("SourceDisksFiles").is_some_and(|s| {
        s.entries.iter().any(|e| {
            e.key_text()
                .is_some_and(|k| k.eq_ignore_ascii_case(expect::BINARY))
        })
    });
    if !listed {
        problems.push(Problem::NotInSourceDisks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decorations() {
        let d = |s: &str| parse_decoration(s);
        assert_eq!(
            d("NT$ARCH$.10.0...25952"),
            Some(Decoration {
                arch: "$ARCH$".into(),
                build: Some(25952)
            })
        );
        assert_eq!(
            d("NTamd64"),
            Some(Decoration {
                arch: "amd64".into(),
                build: None
            })
        );
        assert_eq!(
            d("ntarm64.10.0"),
            Some(Decoration {
                arch: "arm64".into(),
                build: None
            })
        );
        assert_eq!(d("NT"), None);
        assert_eq!(d("NTx86"), None);
        assert_eq!(d("amd64"), None);
        assert_eq!(d("NTamd64.10.0...abc"), None);
        assert_eq!(d("NTamd64.10"), None);
    }

    #[test]
    fn driver_ver_format() {
        assert!(is_driver_ver("11/21/2026,0.1.0.1"));
        assert!(is_driver_ver("1/2/2026, 10.0.0.65535"));
        assert!(!is_driver_ver("2026-11-21,1.0.0.0"));
        assert!(!is_driver_ver("11/21/2026"));
        assert!(!is_driver_ver("11/21/2026,1.0.0"));
        assert!(!is_driver_ver("11/21/2026,1.0.0.65536"));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0x00010001"), Some(0x0001_0001));
        assert_eq!(parse_number(" 3 "), Some(3));
        assert_eq!(parse_number("three"), None);
    }
}
