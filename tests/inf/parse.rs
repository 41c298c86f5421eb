//! A small parser for the INF syntax Windows SetupAPI reads.
//!
//! What it understands (the general syntax rules of INF files):
//! - `[section]` headers; section names compare case-insensitively and a repeated section
//!   is merged into the first, as SetupAPI does;
//! - `key = value, value, ...` entries and key-less value lists;
//! - `;` comments outside double quotes;
//! - a `\` as the last character outside quotes and comments continues the line;
//! - `"quoted"` parts, with `""` for a literal quote, concatenated with unquoted parts
//!   (`"Parameters\Instances\"%Instance1.Name%`);
//! - `%strkey%` substitution from `[Strings]` outside quotes, `%%` for `%`, and `%13%`-style
//!   DIRIDs left as they are.

use std::collections::HashMap;

/// A piece of a field: quoted text is taken literally, plain text is trimmed at the field's
/// edges and subject to `%strkey%` substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Plain(String),
    Quoted(String),
}

/// One comma-separated field (or the key left of `=`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Field {
    pub parts: Vec<Part>,
}

impl Field {
    /// The field's text with quotes removed and nothing substituted.
    pub fn raw(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Plain(s) | Part::Quoted(s) => s.as_str(),
            })
            .collect()
    }

    /// Whether the field is empty (`a,,b` has an empty middle field).
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(|p| match p {
            Part::Plain(s) | Part::Quoted(s) => s.is_empty(),
        })
    }
}

/// One logical line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based physical line where the logical line starts.
    pub line: usize,
    pub key: Option<Field>,
    pub values: Vec<Field>,
}

impl Entry {
    /// The key as written (quotes removed), if the entry has one.
    pub fn key_text(&self) -> Option<String> {
        self.key.as_ref().map(Field::raw)
    }
}

/// A section and its entries in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

impl Section {
    /// Entries whose key equals `key` (case-insensitive).
    pub fn entries_for<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.key_text().is_some_and(|k| k.eq_ignore_ascii_case(key)))
    }

    /// The first entry for `key`.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.key_text().is_some_and(|k| k.eq_ignore_ascii_case(key)))
    }
}

/// Why a text is not an INF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: section header without a closing ']'")]
    UnclosedHeader { line: usize },
    #[error("line {line}: text after a section header: `{text}`")]
    TextAfterHeader { line: usize, text: String },
    #[error("line {line}: empty section name")]
    EmptySectionName { line: usize },
    #[error("line {line}: unterminated double quote")]
    UnterminatedQuote { line: usize },
    #[error("line {line}: entry outside any section")]
    EntryOutsideSection { line: usize },
    #[error("line {line}: line continuation at the end of the file")]
    DanglingContinuation { line: usize },
}

/// Why `%strkey%` substitution failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("%{0}% is not defined in [Strings]")]
    Undefined(String),
    #[error("a '%' without its closing '%' in `{0}`")]
    Unclosed(String),
}

/// A parsed INF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inf {
    pub sections: Vec<Section>,
    /// `[Strings]` values by lower-case key.
    strings: HashMap<String, String>,
}

/// One logical line: the text with comments and continuations resolved.
struct Logical {
    line: usize,
    text: String,
}

/// Splits the text into logical lines: comments removed (outside quotes), `\`-continued
/// lines joined.
fn logical_lines(text: &str) -> Result<Vec<Logical>, ParseError> {
    let mut out = Vec::new();
    let mut pending: Option<Logical> = None;
    for (index, physical) in text.lines().enumerate() {
        let line = index + 1;
        let mut in_quote = false;
        let mut content = String::with_capacity(physical.len());
        for c in physical.chars() {
            match c {
                '"' => {
                    // `""` inside quotes toggles twice, which keeps the state right.
                    in_quote = !in_quote;
                    content.push(c);
                }
                ';' if !in_quote => break,
                _ => content.push(c),
            }
        }
        if in_quote {
            return Err(ParseError::UnterminatedQuote { line });
        }
        let trimmed = content.trim_end();
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(body) => (body.to_owned(), true),
            None => (trimmed.to_owned(), false),
        };
        let mut logical = match pending.take() {
            Some(mut p) => {
                p.text.push_str(&body);
                p
            }
            None => Logical { line, text: body },
        };
        if continues {
            // Keep the text so far; the next physical line is appended.
            logical.text.push(' ');
            pending = Some(logical);
        } else {
            out.push(logical);
        }
    }
    if let Some(p) = pending {
        return Err(ParseError::DanglingContinuation { line: p.line });
    }
    Ok(out)
}

/// Splits `text` at `separator` characters outside quotes, into fields.
fn split_fields(text: &str, separator: char, limit: usize) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut parts: Vec<Part> = Vec::new();
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    let mut splits = 0;
    while let Some(c) = chars.next() {
        if c == '"' {
            if !plain.is_empty() {
                parts.push(Part::Plain(std::mem::take(&mut plain)));
            }
            let mut quoted = String::new();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        quoted.push('"');
                    }
                    Some('"') | None => break,
                    Some(q) => quoted.push(q),
                }
            }
            parts.push(Part::Quoted(quoted));
        } else if c == separator && splits < limit {
            splits += 1;
            if !plain.is_empty() {
                parts.push(Part::Plain(std::mem::take(&mut plain)));
            }
            fields.push(trim_field(std::mem::take(&mut parts)));
        } else {
            plain.push(c);
        }
    }
    if !plain.is_empty() {
        parts.push(Part::Plain(plain));
    }
    fields.push(trim_field(parts));
    fields
}

/// Trims white space at the outer edges of a field's plain text.
fn trim_field(mut parts: Vec<Part>) -> Field {
    if let Some(Part::Plain(first)) = parts.first_mut() {
        *first = first.trim_start().to_owned();
    }
    if let Some(Part::Plain(last)) = parts.last_mut() {
        *last = last.trim_end().to_owned();
    }
    parts.retain(|p| !matches!(p, Part::Plain(s) if s.is_empty()));
    Field { parts }
}

impl Inf {
    /// Parses decoded INF text.
    pub fn parse(text: &str) -> Result<Inf, ParseError> {
        let mut sections: Vec<Section> = Vec::new();
        let mut current: Option<usize> = None;
        for Logical { line, text } in logical_lines(text)? {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix('[') {
                let close = rest.find(']').ok_or(ParseError::UnclosedHeader { line })?;
                let name = rest[..close].trim().to_owned();
                let after = rest[close + 1..].trim();
                if !after.is_empty() {
                    return Err(ParseError::TextAfterHeader {
                        line,
                        text: after.to_owned(),
                    });
                }
                if name.is_empty() {
                    return Err(ParseError::EmptySectionName { line });
                }
                let existing = sections
                    .iter()
                    .position(|s| s.name.eq_ignore_ascii_case(&name));
                current = Some(existing.unwrap_or_else(|| {
                    sections.push(Section {
                        name,
                        line,
                        entries: Vec::new(),
                    });
                    sections.len() - 1
                }));
                continue;
            }
            let index = current.ok_or(ParseError::EntryOutsideSection { line })?;
            sections[index].entries.push(parse_entry(line, trimmed));
        }
        let strings = sections
            .iter()
            .filter(|s| s.name.eq_ignore_ascii_case("Strings"))
            .flat_map(|s| &s.entries)
            .filter_map(|e| {
                let key = e.key_text()?.to_ascii_lowercase();
                let value = e.values.first().map(Field::raw).unwrap_or_default();
                Some((key, value))
            })
            .collect();
        Ok(Inf { sections, strings })
    }

    /// The section called `name` (case-insensitive).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The `[Strings]` value of `key` (case-insensitive).
    pub fn string(&self, key: &str) -> Option<&str> {
        self.strings
            .get(&key.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The field's text with `%strkey%` tokens substituted.
    pub fn expand(&self, field: &Field) -> Result<String, ExpandError> {
        let mut out = String::new();
        for part in &field.parts {
            match part {
                Part::Quoted(s) => out.push_str(s),
                Part::Plain(s) => out.push_str(&self.expand_plain(s)?),
            }
        }
        Ok(out)
    }

    /// Like [`Inf::expand`], but leaves an undefined token as written. For checks that
    /// report undefined tokens separately.
    pub fn expand_lossy(&self, field: &Field) -> String {
        self.expand(field).unwrap_or_else(|_| field.raw())
    }

    fn expand_plain(&self, text: &str) -> Result<String, ExpandError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let end = after
                .find('%')
                .ok_or_else(|| ExpandError::Unclosed(text.to_owned()))?;
            let token = &after[..end];
            if token.is_empty() {
                out.push('%');
            } else if token.chars().all(|c| c.is_ascii_digit()) {
                // A DIRID such as %13%: resolved by Windows at install time.
                out.push('%');
                out.push_str(token);
                out.push('%');
            } else {
                let value = self
                    .string(token)
                    .ok_or_else(|| ExpandError::Undefined(token.to_owned()))?;
                out.push_str(value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn parse_entry(line: usize, text: &str) -> Entry {
    // The first '=' outside quotes separates the key; fields are split at ','.
    let halves = split_fields(text, '=', 1);
    match halves.as_slice() {
        [key, _] => {
            let value_text = value_text_after_equals(text);
            Entry {
                line,
                key: Some(key.clone()),
                values: split_fields(value_text, ',', usize::MAX),
            }
        }
        _ => Entry {
            line,
            key: None,
            values: split_fields(text, ',', usize::MAX),
        },
    }
}

/// The text right of the first '=' outside quotes.
fn value_text_after_equals(text: &str) -> &str {
    let mut in_quote = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            '=' if !in_quote => return &text[i + 1..],
            _ => {}
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> Part {
        Part::Plain(s.to_owned())
    }
    fn quoted(s: &str) -> Part {
        Part::Quoted(s.to_owned())
    }

    #[test]
    fn sections_entries_and_comments() {
        let inf = Inf::parse(
            "; leading comment\n\
             [Version] ; trailing comment\n\
             Signature = \"$WINDOWS NT$\"   ; comment\n\
             \n\
             [files]\n\
             picket_driver.sys\n\
             [FILES]\n\
             other.sys\n",
        )
        .unwrap();
        assert_eq!(inf.sections.len(), 2);
        let version = inf.section("version").unwrap();
        assert_eq!(version.line, 2);
        let sig = version.entry("SIGNATURE").unwrap();
        assert_eq!(sig.line, 3);
        assert_eq!(
            sig.values,
            vec![Field {
                parts: vec![quoted("$WINDOWS NT$")]
            }]
        );
        // Repeated sections merge, as SetupAPI does.
        let files = inf.section("Files").unwrap();
        let names: Vec<String> = files.entries.iter().map(|e| e.values[0].raw()).collect();
        assert_eq!(names, ["picket_driver.sys", "other.sys"]);
        assert!(files.entries[0].key.is_none());
    }

    #[test]
    fn quotes_protect_separators_and_comments() {
        let inf = Inf::parse(
            "[S]\n\
             a = \"x;y\", \"p,q\" , \"say \"\"hi\"\"\"\n\
             HKR,\"Parameters\\Instances\\\"%Name%,\"Altitude\",0x00000000,%Alt%\n\
             [Strings]\n\
             Name = \"Picket Instance\"\n\
             Alt = \"362718\"\n",
        )
        .unwrap();
        let s = inf.section("S").unwrap();
        let a = s.entry("a").unwrap();
        let raw: Vec<String> = a.values.iter().map(Field::raw).collect();
        assert_eq!(raw, ["x;y", "p,q", "say \"hi\""]);
        let reg = &s.entries[1];
        assert!(reg.key.is_none());
        assert_eq!(
            reg.values[1].parts,
            vec![quoted("Parameters\\Instances\\"), plain("%Name%")]
        );
        assert_eq!(
            inf.expand(&reg.values[1]).unwrap(),
            "Parameters\\Instances\\Picket Instance"
        );
        assert_eq!(inf.expand(&reg.values[4]).unwrap(), "362718");
        assert!(reg.values.iter().all(|f| !f.is_empty()));
    }

    #[test]
    fn continuation_joins_lines() {
        let inf = Inf::parse("[S]\nKey = one, \\\n      two ; c\nNext = 3\n").unwrap();
        let s = inf.section("S").unwrap();
        let key = s.entry("Key").unwrap();
        assert_eq!(key.line, 2);
        let raw: Vec<String> = key.values.iter().map(Field::raw).collect();
        assert_eq!(raw, ["one", "two"]);
        assert_eq!(s.entry("next").unwrap().line, 4);
        // A backslash inside quotes or before a comment's text is not a continuation.
        let inf = Inf::parse("[S]\nA = \"ends\\\" \nB = x ; comment \\\nC = y\n").unwrap();
        let s = inf.section("S").unwrap();
        assert_eq!(s.entry("A").unwrap().values[0].raw(), "ends\\");
        assert_eq!(s.entries.len(), 3);
    }

    #[test]
    fn substitution_rules() {
        let inf = Inf::parse("[Strings]\nname = \"Picket\"\n").unwrap();
        let f = |s: &str| Field {
            parts: vec![plain(s)],
        };
        assert_eq!(inf.expand(&f("%NAME%.sys")).unwrap(), "Picket.sys");
        assert_eq!(inf.expand(&f("%13%\\x.sys")).unwrap(), "%13%\\x.sys");
        assert_eq!(inf.expand(&f("100%%")).unwrap(), "100%");
        assert_eq!(
            inf.expand(&f("%missing%")),
            Err(ExpandError::Undefined("missing".to_owned()))
        );
        assert_eq!(
            inf.expand(&f("50%")),
            Err(ExpandError::Unclosed("50%".to_owned()))
        );
        assert_eq!(inf.expand_lossy(&f("%missing%")), "%missing%");
        // Quoted text is literal.
        let q = Field {
            parts: vec![quoted("%name%")],
        };
        assert_eq!(inf.expand(&q).unwrap(), "%name%");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        assert_eq!(
            Inf::parse("[S\n"),
            Err(ParseError::UnclosedHeader { line: 1 })
        );
        assert_eq!(
            Inf::parse("[S] x\n"),
            Err(ParseError::TextAfterHeader {
                line: 1,
                text: "x".to_owned()
            })
        );
        assert_eq!(
            Inf::parse("\n[ ]\n"),
            Err(ParseError::EmptySectionName { line: 2 })
        );
        assert_eq!(
            Inf::parse("[S]\na = \"open\n"),
            Err(ParseError::UnterminatedQuote { line: 2 })
        );
        assert_eq!(
            Inf::parse("a = 1\n"),
            Err(ParseError::EntryOutsideSection { line: 1 })
        );
        assert_eq!(
            Inf::parse("[S]\na = 1 \\\n"),
            Err(ParseError::DanglingContinuation { line: 2 })
        );
    }

    #[test]
    fn crlf_and_keyless_lists() {
        let inf = Inf::parse("[S]\r\n1 = %Disk%,,,\r\nfile.sys = 1,,\r\n").unwrap();
        let s = inf.section("S").unwrap();
        let one = s.entry("1").unwrap();
        assert_eq!(one.values.len(), 4);
        assert!(one.values[1].is_empty());
        assert_eq!(s.entry("file.sys").unwrap().values.len(), 3);
    }
}
