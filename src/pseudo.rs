//! Pseudonymisation: HMAC-SM3 (RFC 2104 over GB/T 32905) of 身份证号 and names.
//!
//! This module owns the only place where a raw identifier is turned into a pseudonym. The key is
//! read from a file that only its owner may read ([`Pseudonymiser::from_key_file`]); the public
//! demo key is the one exception, accepted with a warning because it protects nothing.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sm3::Sm3;

use crate::error::{Error, Result};

/// The public key that ships with `data-samples/`. It exists only for the samples.
pub const DEMO_KEY: &str = "demo-county-key-not-for-production";

/// A keyed HMAC-SM3 ready to pseudonymise many values; cloning the keyed state per value
/// avoids re-deriving the inner and outer pads.
#[derive(Clone)]
pub struct Pseudonymiser {
    keyed: Hmac<Sm3>,
    is_demo_key: bool,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pseudonymiser").field("is_demo_key", &self.is_demo_key).finish_non_exhaustive()
    }
}

impl Pseudonymiser {
    /// A pseudonymiser for a key given as bytes (tests, synth).
    pub fn new(key: &[u8]) -> Self {
        let keyed = Hmac::<Sm3>::new_from_slice(key).expect("HMAC takes keys of any length");
        Self { keyed, is_demo_key: key == DEMO_KEY.as_bytes() }
    }

    /// Reads the key file (its content, trailing line break removed). A key file that its group
    /// or others may read is refused, unless it holds the public demo key.
    pub fn from_key_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::KeyFile {
            path: path.to_path_buf(),
            problem: format!("cannot be read: {source}"),
        })?;
        let key = trim_line_end(&bytes);
        if key.is_empty() {
            return Err(Error::KeyFile { path: path.to_path_buf(), problem: "is empty".into() });
        }
        let pseudo = Self::new(key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|source| Error::KeyFile {
                    path: path.to_path_buf(),
                    problem: format!("cannot be read: {source}"),
                })?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                if pseudo.is_demo_key {
                    tracing::warn!(
                        key_file = %path.display(),
                        "using the public demo key; its file is readable by others, which is allowed only for this key"
                    );
                } else {
                    return Err(Error::KeyFile {
                        path: path.to_path_buf(),
                        problem: format!(
                            "can be read by its group or others (mode {:o}); run `chmod 600 {}`",
                            mode & 0o777,
                            path.display()
                        ),
                    });
                }
            }
        }
        Ok(pseudo)
    }

    /// True when the key is the public demo key.
    pub fn is_demo_key(&self) -> bool {
        self.is_demo_key
    }

    /// HMAC-SM3 of raw bytes, as 64 lowercase hex characters.
    pub fn hmac_hex(&self, message: &[u8]) -> String {
        let mut mac = self.keyed.clone();
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    /// The `person_key` of a 身份证号: trimmed, upper-cased (a trailing `x` becomes `X`).
    pub fn person_key(&self, id_number: &str) -> String {
        self.hmac_hex(id_number.trim().to_uppercase().as_bytes())
    }

    /// The `name_hash` of a name: every Unicode white-space character removed (U+3000 included).
    pub fn name_hash(&self, name: &str) -> String {
        let compact: String = name.chars().filter(|c| !c.is_whitespace()).collect();
        self.hmac_hex(compact.as_bytes())
    }
}

fn trim_line_end(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    while end > 0 && matches!(bytes[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &bytes[..end]
}

/// True for a 身份证号 as GB 11643 defines it: 17 digits and a check character (a digit or `X`)
/// that matches the ISO 7064 MOD 11-2 checksum of the 17 digits. `value` is taken as given:
/// trim and upper-case it first.
pub fn is_id_number(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 18 && b[..17].iter().all(u8::is_ascii_digit) && b[17] == id_check_char(&b[..17])
}

/// The ISO 7064 MOD 11-2 check character of a 身份证号's first 17 digits (ASCII digits).
pub fn id_check_char(first17: &[u8]) -> u8 {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| (d - b'0') as u32 * w).sum();
    b"10X98765432"[(sum % 11) as usize]
}

/// True for a well-formed `person_key` or `name_hash`: 64 lowercase hex characters.
pub fn is_pseudonym(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm3::Digest;

    #[test]
    fn sm3_of_abc_matches_the_standard() {
        let digest = Sm3::digest(b"abc");
        assert_eq!(
            hex::encode(digest),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn id_number_vectors_from_the_spec() {
        let p = Pseudonymiser::new(DEMO_KEY.as_bytes());
        let expected = "62c667925a8c00b31031777675dffd2cc790a27b0ae135b845ae5d197ac86b8b";
        assert_eq!(p.person_key("11010520100101123X"), expected);
        assert_eq!(p.person_key("11010520100101123x"), expected);
        assert_eq!(p.person_key(" 11010520100101123x "), expected);
    }

    #[test]
    fn name_vectors_from_the_spec() {
        let p = Pseudonymiser::new(DEMO_KEY.as_bytes());
        let expected = "336e307cfe0f3649dc2176e605bfce21cc4d7876e0aaeb7e276f9d131e1724d3";
        assert_eq!(p.name_hash("张小明"), expected);
        assert_eq!(p.name_hash("张 小明"), expected);
        assert_eq!(p.name_hash("张\u{3000}小明"), expected);
    }

    #[test]
    fn id_numbers_are_checked_against_their_check_character() {
        // (The spec's pseudonymisation vector 11010520100101123X is not a valid 身份证号: its
        // check character would be 2.)
        assert!(is_id_number("110105201001011232"));
        assert!(is_id_number("11010519491231002X"));
        assert!(!is_id_number("11010520100101123X"), "wrong check character");
        assert!(!is_id_number("11010519491231002x"), "not upper-cased");
        assert!(!is_id_number("1101052010010112"), "too short");
        assert!(!is_id_number("1.10105201001E+17"), "a number as Excel shows it");
        assert!(is_id_number("440306201006165963"));
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("county.key");
        std::fs::write(&path, "a-real-county-key\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Pseudonymiser::from_key_file(&path).unwrap_err().to_string();
        assert!(err.contains("county.key") && err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let p = Pseudonymiser::from_key_file(&path).unwrap();
        assert_eq!(p.hmac_hex(b"x"), Pseudonymiser::new(b"a-real-county-key").hmac_hex(b"x"));
    }

    #[test]
    fn the_demo_key_is_accepted_from_a_shared_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.key");
        std::fs::write(&path, format!("{DEMO_KEY}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Pseudonymiser::from_key_file(&path).unwrap().is_demo_key());
    }
}
