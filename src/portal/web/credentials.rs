//! Portal passwords: one file per user in a credentials directory, refused
//! unless only its owner can read it. Under systemd, `LoadCredential=portal:DIR`
//! puts them in `$CREDENTIALS_DIRECTORY` as `portal_<user>`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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
    }
}
