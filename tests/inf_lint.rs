//! Lints `inf/picket_driver.inx` on every platform, so a broken INF fails Linux CI even though
//! `infverif` only runs on Windows. The negative tests feed mutated copies of the real file and
//! check that the lint reports exactly the mistake that was made.

use picket_integration_tests::inf::{
    self, decode, encode_utf16le_bom, lint_bytes, template_path, DecodeError, Encoding, Inf,
    InfError, Problem,
};

fn template() -> String {
    let bytes = std::fs::read(template_path()).expect("inf/picket_driver.inx is readable");
    decode(&bytes).expect("the template decodes").1
}

/// Replaces exactly one occurrence of `from` in the template and lints the result.
fn lint_with(from: &str, to: &str) -> Vec<Problem> {
    let text = template();
    assert_eq!(
        text.matches(from).count(),
        1,
        "`{from}` must occur once in the template"
    );
    lint_bytes(text.replacen(from, to, 1).as_bytes()).expect("mutated INF still parses")
}

fn service(section: &str, key: &'static str, expected: &str, found: Option<&str>) -> Problem {
    Problem::Service {
        section: section.into(),
        key,
        expected: expected.into(),
        found: found.map(Into::into),
    }
}

#[test]
fn the_template_passes_every_rule() {
    let problems = inf::lint_file(&template_path()).unwrap_or_else(|e| panic!("{e}"));
    let report: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "INF problems:\n{}", report.join("\n"));
}

#[test]
fn the_template_is_ascii_and_has_the_expected_shape() {
    let bytes = std::fs::read(template_path()).unwrap();
    assert_eq!(decode(&bytes).unwrap().0, Encoding::Ascii);
    let inf = Inf::parse(&template()).unwrap();
    // Both install paths exist: Windows 11 24H2+ and Windows 10 2004+.
    assert!(inf
        .section("DefaultInstall.NT$ARCH$.10.0...25952")
        .is_some());
    assert!(inf
        .section("DefaultInstall.NT$ARCH$.10.0...19041")
        .is_some());
    assert_eq!(inf.string("ServiceName"), Some("Picket"));
    assert_eq!(
        inf.string("ServiceDisplayName"),
        Some("Picket File Activity Sensor")
    );
    let altitude: u32 = inf.string("Instance1.Altitude").unwrap().parse().unwrap();
    assert!((360_000..=389_999).contains(&altitude));
}

#[test]
fn a_stamped_utf16_copy_passes_too() {
    // What stampinf produces for amd64, stored the way Microsoft stores its sample INFs.
    let stamped = template().replace("NT$ARCH$", "NTamd64").replacen(
        "DriverVer   =",
        "DriverVer   = 11/21/2026,0.1.0.0",
        1,
    );
    let problems = lint_bytes(&encode_utf16le_bom(&stamped)).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn wrong_start_type() {
    let problems = lint_with(
        "StartType      = 3                              ; SERVICE_DEMAND_START: loaded",
        "StartType      = 2                              ; SERVICE_AUTO_START: loaded",
    );
    assert_eq!(
        problems,
        vec![service("Picket.Service", "StartType", "3", Some("2"))]
    );
}

#[test]
fn wrong_service_type() {
    let problems = lint_with(
        "ServiceType    = 2                              ; SERVICE_FILE_SYSTEM_DRIVER\nStartType      = 3                              ; SERVICE_DEMAND_START\n",
        "ServiceType    = 1\nStartType      = 3\n",
    );
    assert_eq!(
        problems,
        vec![service(
            "Picket.Downlevel.Service",
            "ServiceType",
            "2",
            Some("1")
        )]
    );
}

#[test]
fn missing_altitude() {
    let problems = lint_with(
        "HKR,\"Parameters\\Instances\\\"%Instance1.Name%,\"Altitude\",0x00000000,%Instance1.Altitude%\n",
        "",
    );
    assert_eq!(
        problems,
        vec![Problem::RegistryMissing {
            section: "Picket.AddRegistry".into(),
            key: "Parameters\\Instances\\Picket Instance".into(),
            value: "Altitude",
        }]
    );
}

#[test]
fn altitude_out_of_range() {
    // The altitude string is shared, so both install paths carry the mistake.
    let problems = lint_with(
        "Instance1.Altitude = \"362718\"",
        "Instance1.Altitude = \"420000\"",
    );
    let out_of_range = |section: &str| Problem::AltitudeOutOfRange {
        section: section.into(),
        altitude: "420000".into(),
    };
    assert_eq!(
        problems,
        vec![
            out_of_range("Picket.AddRegistry"),
            out_of_range("Picket.Downlevel.AddRegistry")
        ]
    );
}

#[test]
fn altitude_not_a_number() {
    let problems = lint_with(
        "Instance1.Altitude = \"362718\"",
        "Instance1.Altitude = \"36x718\"",
    );
    assert_eq!(problems.len(), 2);
    assert!(problems.iter().all(
        |p| matches!(p, Problem::AltitudeNotANumber { altitude, .. } if altitude == "36x718")
    ));
}

#[test]
fn altitudes_must_agree() {
    let problems = lint_with(
        "HKR,\"Instances\\\"%Instance1.Name%,\"Altitude\",0x00000000,%Instance1.Altitude%",
        "HKR,\"Instances\\\"%Instance1.Name%,\"Altitude\",0x00000000,\"385001\"",
    );
    assert_eq!(
        problems,
        vec![Problem::AltitudeMismatch(vec![
            "362718".into(),
            "385001".into()
        ])]
    );
}

#[test]
fn altitude_as_dword_is_the_wrong_type() {
    let problems = lint_with(
        "HKR,\"Parameters\\Instances\\\"%Instance1.Name%,\"Altitude\",0x00000000,",
        "HKR,\"Parameters\\Instances\\\"%Instance1.Name%,\"Altitude\",0x00010001,",
    );
    assert_eq!(
        problems,
        vec![Problem::RegistryType {
            section: "Picket.AddRegistry".into(),
            key: "Parameters\\Instances\\Picket Instance".into(),
            value: "Altitude",
            expected: "REG_SZ",
        }]
    );
}

#[test]
fn instances_outside_parameters_on_24h2() {
    // The old layout in the 25952+ section: Filter Manager there reads Parameters\Instances.
    let text = template().replace("HKR,\"Parameters\\Instances", "HKR,\"Instances");
    let problems = lint_bytes(text.as_bytes()).unwrap();
    let missing = |key: &str, value: &'static str| Problem::RegistryMissing {
        section: "Picket.AddRegistry".into(),
        key: key.into(),
        value,
    };
    assert_eq!(
        problems,
        vec![
            missing("Parameters\\Instances", "DefaultInstance"),
            missing("Parameters\\Instances\\Picket Instance", "Altitude"),
            missing("Parameters\\Instances\\Picket Instance", "Flags"),
        ]
    );
}

#[test]
fn default_instance_must_name_the_instance() {
    let problems = lint_with(
        "DefaultInstance    = \"Picket Instance\"",
        "DefaultInstance    = \"Other Instance\"",
    );
    assert_eq!(problems.len(), 2);
    assert!(problems.iter().all(|p| matches!(p,
        Problem::RegistryValue { value: "DefaultInstance", found, .. } if found == "Other Instance")));
}

#[test]
fn dirid_13_needs_the_os_version_decoration() {
    let text = template()
        .replace(
            "[DefaultInstall.NT$ARCH$.10.0...25952]",
            "[DefaultInstall.NT$ARCH$.10.0...22000]",
        )
        .replace(
            "[DefaultInstall.NT$ARCH$.10.0...25952.Services]",
            "[DefaultInstall.NT$ARCH$.10.0...22000.Services]",
        );
    let problems = lint_bytes(text.as_bytes()).unwrap();
    // Build 22000 predates 25952: DIRID 13 is too early there, nothing covers 24H2, and
    // the section is treated as downlevel, so its Parameters\Instances layout is wrong.
    assert_eq!(problems[0], Problem::NoCurrentInstall);
    assert_eq!(
        problems[1],
        Problem::Dirid13TooEarly {
            section: "DefaultInstall.NT$ARCH$.10.0...22000".into()
        }
    );
    assert!(problems[2..].iter().all(
        |p| matches!(p, Problem::RegistryMissing { key, .. } if key.starts_with("Instances"))
    ));
}

#[test]
fn downlevel_section_must_not_reach_builds_the_driver_cannot_load_on() {
    // Undecorated, the downlevel section would install on 1903/1909, whose kernels lack
    // ExAllocatePool2: the driver would install and then fail to load.
    let text = template()
        .replace(
            "[DefaultInstall.NT$ARCH$.10.0...19041]",
            "[DefaultInstall.NT$ARCH$]",
        )
        .replace(
            "[DefaultInstall.NT$ARCH$.10.0...19041.Services]",
            "[DefaultInstall.NT$ARCH$.Services]",
        );
    let problems = lint_bytes(text.as_bytes()).unwrap();
    assert_eq!(
        problems,
        vec![Problem::InstallsTooEarly {
            section: "DefaultInstall.NT$ARCH$".into()
        }]
    );
}

#[test]
fn current_section_must_run_from_the_driver_store() {
    let problems = lint_with(
        "ServiceBinary  = %13%\\picket_driver.sys",
        "ServiceBinary  = %12%\\picket_driver.sys",
    );
    assert_eq!(
        problems,
        vec![
            Problem::BinaryNotCopied {
                section: "DefaultInstall.NT$ARCH$.10.0...25952".into(),
                dirid: "12".into()
            },
            Problem::NotRunFromDriverStore {
                section: "DefaultInstall.NT$ARCH$.10.0...25952".into()
            },
        ]
    );
}

#[test]
fn wrong_binary_name() {
    let problems = lint_with(
        "ServiceBinary  = %12%\\picket_driver.sys",
        "ServiceBinary  = %12%\\picket.sys",
    );
    assert_eq!(
        problems,
        vec![service(
            "Picket.Downlevel.Service",
            "ServiceBinary",
            "%<dirid>%\\picket_driver.sys",
            Some("%12%\\picket.sys")
        )]
    );
}

#[test]
fn missing_fltmgr_dependency_and_wrong_group() {
    let text = template()
        .replacen("Dependencies   = FltMgr\n", "", 1)
        .replacen(
            "LoadOrderGroup = \"FSFilter Activity Monitor\"",
            "LoadOrderGroup = \"FSFilter Anti-Virus\"",
            1,
        );
    let problems = lint_bytes(text.as_bytes()).unwrap();
    assert_eq!(
        problems,
        vec![
            service(
                "Picket.Service",
                "LoadOrderGroup",
                "FSFilter Activity Monitor",
                Some("FSFilter Anti-Virus")
            ),
            service("Picket.Service", "Dependencies", "FltMgr", None),
        ]
    );
}

#[test]
fn version_rules() {
    let version = |key: &'static str, expected: &str, found: &str| Problem::Version {
        key,
        expected: expected.into(),
        found: Some(found.into()),
    };
    assert_eq!(
        lint_with(
            "Class       = ActivityMonitor ",
            "Class       = AntiVirus       "
        ),
        vec![version("Class", "ActivityMonitor", "AntiVirus")]
    );
    assert_eq!(
        lint_with(
            "{b86dff51-a31e-4bac-b3cf-e8cfe75c9fc2}  ;",
            "{b1d1a169-c54f-4379-81db-bee7d88d7454}  ;"
        ),
        vec![version(
            "ClassGuid",
            "{b86dff51-a31e-4bac-b3cf-e8cfe75c9fc2}",
            "{b1d1a169-c54f-4379-81db-bee7d88d7454}"
        )]
    );
    assert_eq!(
        lint_with(
            "CatalogFile = picket_driver.cat",
            "CatalogFile = picket.cat"
        ),
        vec![version("CatalogFile", "picket_driver.cat", "picket.cat")]
    );
    assert_eq!(
        lint_with(
            "ProviderName       = \"Picket Project\"",
            "ProviderName       = \"Microsoft\""
        ),
        vec![version(
            "Provider",
            "a provider other than Microsoft",
            "Microsoft"
        )]
    );
    assert_eq!(
        lint_with("DriverVer   =\n", "DriverVer   = 21.11.2026\n"),
        vec![version(
            "DriverVer",
            "empty (stamped by stampinf) or mm/dd/yyyy,w.x.y.z",
            "21.11.2026"
        )]
    );
    assert_eq!(
        lint_with("PnpLockdown = 1\n", ""),
        vec![Problem::Version {
            key: "PnpLockdown",
            expected: "1".into(),
            found: None
        }]
    );
}

#[test]
fn primitive_driver_structure() {
    let problems = lint_with(
        "[SourceDisksNames]",
        "[Manufacturer]\n%ProviderName% = Models\n\n[SourceDisksNames]",
    );
    assert_eq!(problems, vec![Problem::ManufacturerSection]);

    let problems = lint_with(
        "[SourceDisksNames]",
        "[DefaultInstall]\nCopyFiles = Picket.DriverFiles\n\n[SourceDisksNames]",
    );
    assert_eq!(
        problems,
        vec![Problem::UndecoratedDefaultInstall("DefaultInstall".into())]
    );

    let problems = lint_with(
        "[SourceDisksNames]",
        "[DefaultUninstall.NT$ARCH$]\nDelFiles = Picket.DriverFiles\n\n[SourceDisksNames]",
    );
    assert_eq!(
        problems,
        vec![Problem::DefaultUninstall(
            "DefaultUninstall.NT$ARCH$".into()
        )]
    );
    // The documented exception: LegacyUninstall=1 makes 1903+ ignore the section.
    let problems = lint_with(
        "[SourceDisksNames]",
        "[DefaultUninstall.NT$ARCH$]\nLegacyUninstall = 1\n\n[SourceDisksNames]",
    );
    assert_eq!(problems, vec![]);

    let problems = lint_with("picket_driver.sys = 1,,", "other.sys = 1,,");
    assert_eq!(problems, vec![Problem::NotInSourceDisks]);
}

#[test]
fn undefined_string_is_named() {
    let problems = lint_with(
        "OptionDesc = %ServiceDescription%\nCopyFiles  = Picket.Downlevel",
        "OptionDesc = %ServiceDescriptoin%\nCopyFiles  = Picket.Downlevel",
    );
    assert_eq!(
        problems,
        vec![Problem::UndefinedString {
            section: "DefaultInstall.NT$ARCH$.10.0...19041".into(),
            token: "ServiceDescriptoin".into()
        }]
    );
}

#[test]
fn utf16_with_bom_reports_the_same_problems() {
    let text = template().replacen(
        "StartType      = 3                              ; SERVICE_DEMAND_START: loaded",
        "StartType      = 4                              ; SERVICE_DISABLED",
        1,
    );
    let problems = lint_bytes(&encode_utf16le_bom(&text)).unwrap();
    assert_eq!(
        problems,
        vec![service("Picket.Service", "StartType", "3", Some("4"))]
    );
    // The same text in UTF-8 gives the same verdict.
    assert_eq!(lint_bytes(text.as_bytes()).unwrap(), problems);
}

#[test]
fn unreadable_encodings_are_errors_not_passes() {
    let utf16 = encode_utf16le_bom(&template());
    // Without its BOM, UTF-16 would be read as garbage by Windows.
    assert!(matches!(
        lint_bytes(&utf16[2..]),
        Err(InfError::Decode(DecodeError::Utf16WithoutBom { .. }))
    ));
    // Non-ASCII 8-bit text depends on the code page.
    let accented = template().replacen("Picket Project", "Picket Proj\u{e9}t", 1);
    assert!(matches!(
        lint_bytes(accented.as_bytes()),
        Err(InfError::Decode(DecodeError::NonAscii { .. }))
    ));
    // ... but is fine in UTF-16LE with a BOM.
    assert_eq!(lint_bytes(&encode_utf16le_bom(&accented)).unwrap(), vec![]);
}

#[test]
fn syntax_errors_are_reported_with_their_line() {
    let text = template().replacen("[Strings]", "[Strings", 1);
    let line = text.lines().position(|l| l == "[Strings").unwrap() + 1;
    match lint_bytes(text.as_bytes()) {
        Err(InfError::Parse(inf::ParseError::UnclosedHeader { line: at })) => assert_eq!(at, line),
        other => panic!("expected an unclosed header error, got {other:?}"),
    }
}

#[test]
fn line_continuations_are_understood() {
    let problems = lint_with(
        "AddReg         = Picket.AddRegistry\n",
        "AddReg         = \\\n                 Picket.AddRegistry\n",
    );
    assert_eq!(problems, vec![]);
}
