//! Portal passwords: one file per user in a credentials directory, refused
//! unless only its owner can read it. Under systemd, `LoadCredential=portal:DIR`
//! puts them in `$CREDENTIALS_DIRECTORY` as `portal_<user>`. A user whose
//! login asks for one-time codes also has a TOTP secret beside it,
//! `<user>.totp` (`portal_<user>.totp`), under the same rules.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::totp::Totp;
use crate::config::WebPortal;

/// Where the default credentials directory is, without systemd.
pub const DEFAULT_CREDENTIALS_DIR: &str = "/etc/reporter/credentials";

/// Names a user's credentials file in an error: "its credentials file `PATH`".
pub fn hint(web: &WebPortal, user: &str) -> String {
    match Credentials::from_config(web).file(user) {
        Ok(path) => format!("its credentials file `{}`", path.display()),
        Err(_) => "its credentials file".into(),
    }
}

/// A password. Its `Debug` never shows it.
pub struct Password(String);

impl Password {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(hidden)")
    }
}

/// The credentials directory and how its files are named.
#[derive(Debug, Clone)]
pub struct Credentials {
    dir: PathBuf,
    prefix: &'static str,
}

impl Credentials {
    /// `credentials_dir` from the config; else `$CREDENTIALS_DIRECTORY`
    /// (systemd); else the default directory.
    pub fn from_config(web: &WebPortal) -> Credentials {
        if let Some(dir) = &web.credentials_dir {
            return Credentials {
                dir: dir.clone(),
                prefix: "",
            };
        }
        match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) if !dir.is_empty() => Credentials {
                dir: dir.into(),
                prefix: "portal_",
            },
            _ => Credentials {
                dir: DEFAULT_CREDENTIALS_DIR.into(),
                prefix: "",
            },
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds a user's password.
    pub fn file(&self, user: &str) -> Result<PathBuf, String> {
        if user.is_empty() || user.starts_with('.') || user.contains(['/', '\0']) {
            return Err(format!(
                "user name `{user}` cannot name a credentials file; rename the user"
            ));
        }
        Ok(self.dir.join(format!("{}{user}", self.prefix)))
    }

    /// Reads a user's password, refusing a file that others can read.
    pub fn password(&self, user: &str) -> Result<Password, String> {
        let path = self.file(user)?;
        check_mode(&path)?;
        let text = std::fs::read_to_string(&path).map_err(|err| {
            format!(
                "cannot read the password of `{user}` from `{}`: {err}",
                path.display()
            )
        })?;
        let password = text.trim_end_matches(['\n', '\r']);
        if password.is_empty() {
            return Err(format!(
                "credentials file `{}` is empty; write the portal password of `{user}` in it",
                path.display()
            ));
        }
        Ok(Password(password.to_string()))
    }

    /// The file that holds a user's TOTP secret: the password file's name
    /// and `.totp`.
    #[allow(dead_code, reason = "the login is to type one-time codes")]
    pub fn totp_file(&self, user: &str) -> Result<PathBuf, String> {
        let mut path = self.file(user)?.into_os_string();
        path.push(".totp");
        Ok(path.into())
    }

    /// Reads a user's TOTP secret, `None` when the user has no secret file;
    /// refuses a file that others can read. An error names the file and what
    /// is wrong with it, never the secret.
    #[allow(dead_code, reason = "the login is to type one-time codes")]
    pub fn totp(&self, user: &str) -> Result<Option<Totp>, String> {
        let path = self.totp_file(user)?;
        match std::fs::metadata(&path) {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                if path.symlink_metadata().is_ok() {
                    return Err(format!(
                        "TOTP secret file `{}` is a symbolic link to a missing file",
                        path.display()
                    ));
                }
                return Ok(None);
            }
            Err(err) => {
                return Err(format!(
                    "cannot read the TOTP secret of `{user}` from `{}`: {err}",
                    path.display()
                ));
            }
        }
        check_mode(&path)?;
        let text = std::fs::read_to_string(&path).map_err(|err| {
            format!(
                "cannot read the TOTP secret of `{user}` from `{}`: {err}",
                path.display()
            )
        })?;
        Totp::parse(&text)
            .map(Some)
            .map_err(|err| format!("TOTP secret file `{}`: {err}", path.display()))
    }
}

/// Refuses a credentials file that its group or others can read or write.
pub fn check_mode(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|err| {
        format!(
            "no credentials file `{}` ({err}); write the user's portal password in it, mode 0600",
            path.display()
        )
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "credentials file `{}` has mode {mode:04o}, readable beyond its owner; run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(dir: &Path) -> Credentials {
        Credentials {
            dir: dir.to_path_buf(),
            prefix: "",
        }
    }

    #[test]
    fn a_password_file_readable_by_others_is_refused_with_the_chmod_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = credentials(dir.path()).password("alice").unwrap_err();
        assert!(
            err.contains("mode 0644") && err.contains("chmod 600"),
            "{err}"
        );
        assert!(!err.contains("s3cret"));
    }

    #[test]
    fn a_private_password_file_is_read_without_its_newline_and_never_debug_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let password = credentials(dir.path()).password("alice").unwrap();
        assert_eq!(password.expose(), "s3cret");
        assert!(!format!("{password:?}").contains("s3cret"));
    }

    #[test]
    fn a_user_name_that_would_leave_the_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(credentials(dir.path()).file("../etc/shadow").is_err());
        assert!(credentials(dir.path()).file(".hidden").is_err());
        assert!(credentials(dir.path()).totp_file("../etc/shadow").is_err());
        assert!(credentials(dir.path()).totp_file(".hidden").is_err());
        assert!(credentials(dir.path()).totp("a/b").is_err());
    }

    fn write_totp(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_totp_secret_file_is_named_as_the_password_file_with_totp_under_systemd_too() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            credentials(dir.path()).totp_file("alice").unwrap(),
            dir.path().join("alice.totp")
        );
        let systemd = Credentials {
            dir: dir.path().to_path_buf(),
            prefix: "portal_",
        };
        assert_eq!(
            systemd.totp_file("alice").unwrap(),
            dir.path().join("portal_alice.totp")
        );
    }

    #[test]
    fn a_missing_totp_secret_file_is_no_totp() {
        let dir = tempfile::tempdir().unwrap();
        write_totp(dir.path(), "alice", "s3cret\n", 0o600);
        assert!(credentials(dir.path()).totp("alice").unwrap().is_none());
    }

    #[test]
    fn a_private_totp_secret_file_is_read_and_never_debug_printed() {
        let dir = tempfile::tempdir().unwrap();
        write_totp(dir.path(), "alice.totp", "jbsw y3dp ehpk 3pxp\n", 0o600);
        let totp = credentials(dir.path()).totp("alice").unwrap().unwrap();
        assert_eq!(
            totp.code_at(59),
            Totp::parse("JBSWY3DPEHPK3PXP").unwrap().code_at(59)
        );
        assert!(!format!("{totp:?}").to_ascii_lowercase().contains("jbsw"));
    }

    #[test]
    fn a_totp_secret_file_readable_by_others_is_refused_with_the_chmod_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_totp(dir.path(), "alice.totp", "JBSWY3DPEHPK3PXP\n", 0o640);
        let err = credentials(dir.path()).totp("alice").unwrap_err();
        assert!(
            err.contains("mode 0640") && err.contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
        assert!(!err.contains("JBSW"), "{err}");
    }

    #[test]
    fn an_invalid_totp_secret_is_refused_naming_the_file_but_not_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        for (text, what) in [
            ("JBSWY3DPEHPK3PX0\n", "not valid base32"),
            ("", "empty"),
            ("\n", "empty"),
            (
                "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=0",
                "`period`",
            ),
            ("otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP", "hotp"),
        ] {
            let path = write_totp(dir.path(), "alice.totp", text, 0o600);
            let err = credentials(dir.path()).totp("alice").unwrap_err();
            assert!(err.contains(&format!("`{}`", path.display())), "{err}");
            assert!(err.contains(what), "{text:?}: {err}");
            assert!(!err.contains("JBSW") && !err.contains("PX0"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
