//! Fixtures shared by the rule-loading tests.

/// One valid, untested file-event rule (`test-payload`), nine lines.
pub const RULE: &str = "title: Dropped payload
id: test-payload
logsource:
  category: file_event
detection:
  selection:
    TargetFilename|endswith: '\\payload.exe'
  condition: selection
level: high
";
