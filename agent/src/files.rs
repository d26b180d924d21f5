//! The agent's persisted tags (`-tags-file`, a JSON object) and keyring
//! (`-keyring-file`, a JSON list of base64 keys, primary first), rewritten
//! atomically (temporary file + rename) whenever they change.

use std::path::Path;

use serf_core::wire::crypto::Key;

/// Reads tags; a missing file means no tags yet.
pub fn read_tags(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read tags file {}: {e}", path.display())),
    };
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: invalid JSON: {e}", path.display()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{}: tags must be a JSON object of strings", path.display()))?;
    obj.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_string()))
                .ok_or_else(|| format!("{}: tag {k:?} is not a string", path.display()))
        })
        .collect()
}

/// Writes tags.
pub fn write_tags(path: &Path, tags: &[(String, String)]) -> Result<(), String> {
    let map: serde_json::Map<String, serde_json::Value> = tags
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    write_atomic(path, &serde_json::Value::Object(map).to_string())
}

/// Reads a keyring file.
pub fn read_keyring(path: &Path) -> Result<Vec<Key>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read keyring file {}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: invalid JSON: {e}", path.display()))?;
    let list = v.as_array().ok_or_else(|| {
        format!(
            "{}: the keyring must be a JSON list of base64 keys",
            path.display()
        )
    })?;
    if list.is_empty() {
        return Err(format!("{}: the keyring is empty", path.display()));
    }
    list.iter()
        .map(|k| {
            let s = k
                .as_str()
                .ok_or_else(|| format!("{}: keys must be strings", path.display()))?;
            let bytes = crate::rpc::base64_decode(s)
                .ok_or_else(|| format!("{}: {s:?} is not base64", path.display()))?;
            Key::new(&bytes)
                .map_err(|_| format!("{}: keys must be 16, 24 or 32 bytes", path.display()))
        })
        .collect()
}

/// Writes a keyring file (mode 0600).
pub fn write_keyring(path: &Path, keys: &[Vec<u8>]) -> Result<(), String> {
    use base64::Engine;
    let list: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(k)))
        .collect();
    // Laid out as Serf writes it (indented, one key a line).
    let text = serde_json::to_string_pretty(&serde_json::Value::Array(list))
        .map_err(|e| format!("cannot encode the keyring: {e}"))?;
    write_atomic(path, &text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_keyring_files_round_trip_and_reject_garbage() {
        let dir = std::env::temp_dir().join(format!("serf-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = dir.join("tags.json");
        assert_eq!(read_tags(&t).unwrap(), vec![]);
        write_tags(&t, &[("role".into(), "web".into())]).unwrap();
        assert_eq!(
            read_tags(&t).unwrap(),
            vec![("role".to_string(), "web".to_string())]
        );
        std::fs::write(&t, "[1]").unwrap();
        assert!(read_tags(&t).is_err());
        let k = dir.join("keys.json");
        write_keyring(&k, &[vec![1u8; 32], vec![2u8; 16]]).unwrap();
        let keys = read_keyring(&k).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].as_bytes(), &[1u8; 32]);
        std::fs::write(&k, r#"["not base64!"]"#).unwrap();
        assert!(read_keyring(&k).unwrap_err().contains("base64"));
        std::fs::write(&k, "[]").unwrap();
        assert!(read_keyring(&k).unwrap_err().contains("empty"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
