//! One-time codes for portal logins (TOTP, RFC 6238): a secret, as an
//! authenticator app shows it (base32) or as the `otpauth://totp/...` URI of
//! its QR code, gives the code of each period. The secret never appears in a
//! `Debug` output or an error: an error names what is wrong, not the text.

use std::time::Duration;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};

/// How long before its period ends a code is not typed any more: the next
/// one is waited for instead, so that the portal does not get an expired code.
const MARGIN_SECONDS: f64 = 3.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
}

/// A TOTP secret and its parameters. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct Totp {
    secret: Vec<u8>,
    digits: u32,
    period: u64,
    algorithm: Algorithm,
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Totp(hidden, {} digits, {} s, {})",
            self.digits,
            self.period,
            self.algorithm.name()
        )
    }
}

#[allow(dead_code, reason = "the login is to type these codes")]
impl Totp {
    /// Reads a base32 secret (case-insensitive, spaces and `-` ignored, `=`
    /// padding optional) or an `otpauth://totp/...` URI, with its `digits`
    /// (6 to 8), `period` (seconds) and `algorithm` (SHA1, SHA256, SHA512).
    /// The error never holds any part of the text.
    pub fn parse(text: &str) -> Result<Totp, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "the TOTP secret is empty; write the base32 secret or the otpauth://totp/ URI"
                    .into(),
            );
        }
        if has_prefix_ignoring_case(text, "otpauth://") {
            return parse_uri(&text["otpauth://".len()..]);
        }
        if text.contains("://") {
            return Err(
                "the TOTP secret is a URI but not an otpauth://totp/ one; write the base32 secret or the otpauth://totp/ URI"
                    .into(),
            );
        }
        let secret = decode_secret(text)?;
        Ok(Totp::new(secret, 6, 30, Algorithm::Sha1))
    }

    fn new(secret: Vec<u8>, digits: u32, period: u64, algorithm: Algorithm) -> Totp {
        Totp {
            secret,
            digits,
            period,
            algorithm,
        }
    }

    /// The code of the period that holds this time, zero-padded to its digits.
    pub fn code_at(&self, unix_seconds: u64) -> String {
        self.code_of_counter(unix_seconds / self.period)
    }

    /// How many seconds a code lasts.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// The code to type now: if the current code expires within 3 s, the
    /// next one, with how long to wait before it is valid (`Duration::ZERO`
    /// when the current one is used).
    pub fn code_for_now(&self, unix_seconds_f64: f64) -> (String, Duration) {
        // Before 1970 or not a number: no clock to speak of, take the start.
        let now = if unix_seconds_f64 > 0.0 {
            unix_seconds_f64
        } else {
            0.0
        };
        let counter = (now / self.period as f64).floor() as u64;
        let ends = counter.saturating_add(1) as f64 * self.period as f64;
        let left = ends - now;
        if left <= MARGIN_SECONDS {
            let wait = Duration::try_from_secs_f64(left.max(0.0)).unwrap_or(Duration::ZERO);
            (self.code_of_counter(counter.saturating_add(1)), wait)
        } else {
            (self.code_of_counter(counter), Duration::ZERO)
        }
    }

    /// HOTP (RFC 4226) of a counter: the HMAC, dynamically truncated.
    fn code_of_counter(&self, counter: u64) -> String {
        let message = counter.to_be_bytes();
        let hash = match self.algorithm {
            Algorithm::Sha1 => hmac::<Hmac<sha1::Sha1>>(&self.secret, &message),
            Algorithm::Sha256 => hmac::<Hmac<sha2::Sha256>>(&self.secret, &message),
            Algorithm::Sha512 => hmac::<Hmac<sha2::Sha512>>(&self.secret, &message),
        };
        let offset = usize::from(hash[hash.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([
            hash[offset] & 0x7f,
            hash[offset + 1],
            hash[offset + 2],
            hash[offset + 3],
        ]);
        let code = binary % 10u32.pow(self.digits);
        format!("{code:0width$}", width = self.digits as usize)
    }
}

fn hmac<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn has_prefix_ignoring_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// `totp/LABEL?secret=...&digits=...`, after `otpauth://`. No value is ever
/// quoted in an error: a secret pasted in the wrong place would show.
fn parse_uri(rest: &str) -> Result<Totp, String> {
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let kind = path.split_once('/').map_or(path, |(kind, _)| kind);
    if kind.eq_ignore_ascii_case("hotp") {
        return Err(
            "the otpauth URI is of type hotp (counter-based); only totp (time-based) codes are supported"
                .into(),
        );
    }
    if !kind.eq_ignore_ascii_case("totp") {
        return Err("the otpauth URI does not start with otpauth://totp/".into());
    }
    let mut secret = None;
    let mut digits = None;
    let mut period = None;
    let mut algorithm = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let key = key.to_ascii_lowercase();
        let slot = match key.as_str() {
            "secret" => &mut secret,
            "digits" => &mut digits,
            "period" => &mut period,
            "algorithm" => &mut algorithm,
            _ => continue,
        };
        if slot.is_some() {
            return Err(format!(
                "the otpauth URI has the parameter `{key}` more than once"
            ));
        }
        *slot = Some(value.into_owned());
    }
    let Some(secret) = secret else {
        return Err("the otpauth URI has no `secret` parameter".into());
    };
    let secret = decode_secret(&secret)?;
    let digits = match digits.as_deref().map(str::trim) {
        None => 6,
        Some(value) => match value.parse::<u32>() {
            Ok(digits @ 6..=8) => digits,
            _ => {
                return Err("the otpauth URI's `digits` is not 6, 7 or 8".into());
            }
        },
    };
    let period = match period.as_deref().map(str::trim) {
        None => 30,
        Some(value) => match value.parse::<u64>() {
            Ok(period) if period > 0 => period,
            _ => {
                return Err(
                    "the otpauth URI's `period` is not a whole number of seconds above 0".into(),
                );
            }
        },
    };
    let algorithm = match algorithm.as_deref().map(str::trim) {
        None => Algorithm::Sha1,
        Some(value) => {
            let name = value.replace('-', "").to_ascii_uppercase();
            match name.as_str() {
                "SHA1" => Algorithm::Sha1,
                "SHA256" => Algorithm::Sha256,
                "SHA512" => Algorithm::Sha512,
                _ => {
                    return Err(
                        "the otpauth URI's `algorithm` is not SHA1, SHA256 or SHA512".into(),
                    );
                }
            }
        }
    };
    Ok(Totp::new(secret, digits, period, algorithm))
}

/// A base32 secret, refused when it decodes to nothing.
fn decode_secret(text: &str) -> Result<Vec<u8>, String> {
    let secret = decode_base32(text)
        .map_err(|what| format!("the TOTP secret is not valid base32: {what}"))?;
    if secret.is_empty() {
        return Err("the TOTP secret holds no base32 characters".into());
    }
    Ok(secret)
}

/// Base32 (RFC 4648 alphabet), case-insensitive, ignoring spaces, tabs and
/// `-`, with optional `=` padding at the end. An error says where, never what.
fn decode_base32(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    let mut symbols = 0usize;
    let mut padding = false;
    for (index, c) in text.chars().enumerate() {
        let position = index + 1;
        let value = match c {
            ' ' | '\t' | '-' => continue,
            '=' => {
                padding = true;
                continue;
            }
            'A'..='Z' => c as u32 - 'A' as u32,
            'a'..='z' => c as u32 - 'a' as u32,
            '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => {
                return Err(format!(
                    "character {position} is not a letter A to Z or a digit 2 to 7 (0, 1, 8 and 9 are not base32)"
                ));
            }
        };
        if padding {
            return Err(format!(
                "character {position} follows `=` padding, which may only end it"
            ));
        }
        symbols += 1;
        buffer = ((buffer << 5) | value) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
        }
    }
    // 8 characters hold 5 bytes; 1, 3 or 6 characters left over hold no
    // whole byte.
    if matches!(symbols % 8, 1 | 3 | 6) {
        return Err(
            "its length is not that of whole bytes; is a character missing or extra?".into(),
        );
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1_SECRET: &[u8] = b"12345678901234567890";
    const SHA256_SECRET: &[u8] = b"12345678901234567890123456789012";
    const SHA512_SECRET: &[u8] =
        b"1234567890123456789012345678901234567890123456789012345678901234";
    const RFC_TIMES: [u64; 6] = [
        59,
        1111111109,
        1111111111,
        1234567890,
        2000000000,
        20000000000,
    ];
    /// "Hello!\xde\xad\xbe\xef", as authenticator apps show it.
    const BASE32: &str = "JBSWY3DPEHPK3PXP";

    fn codes(totp: &Totp) -> Vec<String> {
        RFC_TIMES.iter().map(|&t| totp.code_at(t)).collect()
    }

    #[test]
    fn the_rfc_6238_test_vectors_give_their_codes_with_sha1() {
        let totp = Totp::new(SHA1_SECRET.to_vec(), 8, 30, Algorithm::Sha1);
        assert_eq!(
            codes(&totp),
            [
                "94287082", "07081804", "14050471", "89005924", "69279037", "65353130"
            ]
        );
    }

    #[test]
    fn the_rfc_6238_test_vectors_give_their_codes_with_sha256() {
        let totp = Totp::new(SHA256_SECRET.to_vec(), 8, 30, Algorithm::Sha256);
        assert_eq!(
            codes(&totp),
            [
                "46119246", "68084774", "67062674", "91819424", "90698825", "77737706"
            ]
        );
    }

    #[test]
    fn the_rfc_6238_test_vectors_give_their_codes_with_sha512() {
        let totp = Totp::new(SHA512_SECRET.to_vec(), 8, 30, Algorithm::Sha512);
        assert_eq!(
            codes(&totp),
            [
                "90693936", "25091201", "99943326", "93441116", "38618901", "47863826"
            ]
        );
    }

    #[test]
    fn the_rfc_6238_sha1_secret_in_base32_gives_the_same_codes_as_its_bytes() {
        // "12345678901234567890" in base32.
        let totp =
            Totp::parse("otpauth://totp/RFC?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8")
                .unwrap();
        assert_eq!(
            codes(&totp),
            [
                "94287082", "07081804", "14050471", "89005924", "69279037", "65353130"
            ]
        );
    }

    #[test]
    fn a_bare_secret_gives_six_digits_every_30_seconds_with_sha1() {
        let totp = Totp::parse(BASE32).unwrap();
        assert_eq!(format!("{totp:?}"), "Totp(hidden, 6 digits, 30 s, SHA1)");
        assert_eq!(totp.period(), 30);
        assert_eq!(totp.code_at(59).len(), 6);
        assert_eq!(totp.code_at(59), totp.code_at(30));
        assert_ne!(totp.code_at(59), totp.code_at(60));
    }

    #[test]
    fn a_base32_secret_with_spaces_and_lower_case_gives_the_same_codes_as_in_upper_case() {
        let upper = Totp::parse(BASE32).unwrap();
        for text in [
            "jbsw y3dp ehpk 3pxp",
            "JBSW-Y3DP-EHPK-3PXP",
            "  jbswy3dpehpk3pxp\n",
            "JBSWY3DPEHPK3PXP======",
        ] {
            let other = Totp::parse(text).unwrap();
            assert_eq!(codes(&other), codes(&upper), "{text:?}");
        }
    }

    #[test]
    fn the_otpauth_uri_sets_digits_period_and_algorithm() {
        let totp = Totp::parse(&format!(
            "otpauth://totp/Portal:alice%40example.org?secret={SECRET}&issuer=Portal%20Inc&digits=8&period=60&algorithm=SHA256\n",
            SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA"
        ))
        .unwrap();
        assert_eq!(format!("{totp:?}"), "Totp(hidden, 8 digits, 60 s, SHA256)");
        assert_eq!(totp.period(), 60);
        // A period of 60 s: the RFC's codes at twice the time.
        let rfc = Totp::new(SHA256_SECRET.to_vec(), 8, 30, Algorithm::Sha256);
        assert_eq!(totp.code_at(118), rfc.code_at(59));
        assert_eq!(totp.code_at(2 * 1111111111), rfc.code_at(1111111111));
    }

    #[test]
    fn the_otpauth_uri_has_defaults_and_percent_decoded_parameters() {
        let totp = Totp::parse(
            "OTPAUTH://TOTP/x?secret=jbsw%20y3dp%2DEHPK3PXP&algorithm=sha512&unknown=1",
        )
        .unwrap();
        assert_eq!(format!("{totp:?}"), "Totp(hidden, 6 digits, 30 s, SHA512)");
        let totp = Totp::parse("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=7").unwrap();
        assert_eq!(totp.code_at(1234567890).len(), 7);
    }

    #[test]
    fn an_hotp_uri_and_bad_parameters_are_refused_without_the_secret() {
        for (text, what) in [
            ("otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=1", "hotp"),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=5",
                "`digits`",
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=9",
                "`digits`",
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=0",
                "`period`",
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=-30",
                "`period`",
            ),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=MD5",
                "`algorithm`",
            ),
            ("otpauth://totp/x?issuer=JBSWY3DPEHPK3PXP", "no `secret`"),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&secret=JBSWY3DP",
                "more than once",
            ),
            ("otpauth://JBSWY3DPEHPK3PXP", "otpauth://totp/"),
            ("otpauth://totp/x?secret=JBSWY3DPEHPK3PX1", "character 16"),
        ] {
            let err = Totp::parse(text).unwrap_err();
            assert!(err.contains(what), "{text}: {err}");
            assert!(!err.contains("JBSW") && !err.contains("PXP"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn an_empty_or_invalid_secret_is_refused_without_quoting_it() {
        for (text, what) in [
            ("", "empty"),
            (" \n", "empty"),
            ("====", "no base32"),
            ("JBSWY3DPEHPK3PX0", "character 16"),
            ("JBSW=Y3DP", "character 6 follows `=`"),
            ("JBSWY3DPEHPK3P", "length"),
            ("JBSWY3DP\nEHPK3PXP", "character 9"),
            ("https://example.org/JBSWY3DP", "not an otpauth"),
        ] {
            let err = Totp::parse(text).unwrap_err();
            assert!(err.contains(what), "{text:?}: {err}");
            assert!(!err.contains("JBSW") && !err.contains("Y3DP"), "{err}");
        }
    }

    #[test]
    fn a_one_byte_secret_is_accepted() {
        assert_eq!(decode_base32("ME").unwrap(), b"a");
        assert!(Totp::parse("ME").is_ok());
    }

    #[test]
    fn base32_decodes_the_rfc_4648_test_vectors_with_or_without_padding() {
        for (encoded, decoded) in [
            ("", ""),
            ("MY======", "f"),
            ("MZXQ====", "fo"),
            ("MZXW6===", "foo"),
            ("MZXW6YQ=", "foob"),
            ("MZXW6YTB", "fooba"),
            ("MZXW6YTBOI======", "foobar"),
        ] {
            assert_eq!(decode_base32(encoded).unwrap(), decoded.as_bytes());
            let bare = encoded.trim_end_matches('=');
            assert_eq!(decode_base32(bare).unwrap(), decoded.as_bytes());
            let lower = bare.to_ascii_lowercase();
            assert_eq!(decode_base32(&lower).unwrap(), decoded.as_bytes());
        }
    }

    #[test]
    fn base32_refuses_lengths_of_no_whole_byte() {
        for text in ["M", "MZX", "MZXW6Y", "MZXW6YTBO"] {
            assert!(decode_base32(text).is_err(), "{text}");
        }
    }

    #[test]
    fn code_for_now_near_the_end_of_a_period_returns_the_next_code_and_a_wait() {
        let totp = Totp::parse(BASE32).unwrap();
        // 1111111109 is 29 s into its period (1111111080 to 1111111110).
        let (code, wait) = totp.code_for_now(1111111108.5);
        assert_eq!(code, totp.code_at(1111111110));
        assert_ne!(code, totp.code_at(1111111108));
        assert_eq!(wait, Duration::from_millis(1500));
        let (code, wait) = totp.code_for_now(1111111107.0);
        assert_eq!(code, totp.code_at(1111111110));
        assert_eq!(wait, Duration::from_secs(3));
    }

    #[test]
    fn code_for_now_early_in_a_period_returns_the_current_code_at_once() {
        let totp = Totp::parse(BASE32).unwrap();
        assert_eq!(
            totp.code_for_now(1111111080.0),
            (totp.code_at(1111111080), Duration::ZERO)
        );
        assert_eq!(
            totp.code_for_now(1111111106.9),
            (totp.code_at(1111111106), Duration::ZERO)
        );
    }

    #[test]
    fn the_debug_output_never_shows_the_secret() {
        let totp = Totp::parse(BASE32).unwrap();
        let debug = format!("{totp:?}");
        assert_eq!(debug, "Totp(hidden, 6 digits, 30 s, SHA1)");
        assert!(!debug.contains("JBSW") && !debug.contains("Hello"));
        let alternate = format!("{totp:#?}");
        assert!(!alternate.contains("JBSW") && !alternate.contains("Hello"));
    }
}
