//! Rust names for spec names: heck for the casing, plus the checks that keep them valid.

use heck::{ToSnakeCase, ToUpperCamelCase};

use crate::Error;

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn",
    "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self",
    "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "abstract",
    "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
];

/// A field or method name: a wire key in snake case, the dot a word boundary
/// (`Binding.Alg` → `binding_alg`), keywords suffixed with `_` (`type_`).
pub fn field(wire: &str) -> Result<String, Error> {
    let snake = wire.replace('.', "_").to_snake_case();
    check_identifier(wire, &snake)?;
    Ok(if KEYWORDS.contains(&snake.as_str()) { format!("{snake}_") } else { snake })
}

/// A type name (`verification_status` → `VerificationStatus`).
pub fn type_name(name: &str) -> Result<String, Error> {
    let camel = name.replace('.', "_").to_upper_camel_case();
    check_identifier(name, &camel)?;
    Ok(camel)
}

/// An enum variant for a wire value (`max_attempts_reached` → `MaxAttemptsReached`,
/// `ES256` → `Es256`) or a field (`config_alg` → `ConfigAlg`); a value that starts with a
/// digit gets a `V` in front.
pub fn variant(value: &str) -> Result<String, Error> {
    let camel = value.replace(['.', '-', '/'], "_").to_upper_camel_case();
    let camel = if camel.starts_with(|c: char| c.is_ascii_digit()) { format!("V{camel}") } else { camel };
    check_identifier(value, &camel)?;
    // The one keyword a camel-case name can be.
    if camel == "Self" {
        return Err(Error::Name(format!("{value:?} gives the keyword Self")));
    }
    Ok(camel)
}

fn check_identifier(source: &str, name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid { Ok(()) } else { Err(Error::Name(format!("{source:?} gives no Rust identifier (got {name:?})"))) }
}

/// Fails when two different sources map to one name.
pub fn check_unique<'a>(what: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), Error> {
    let mut seen = std::collections::BTreeMap::new();
    for (source, name) in pairs {
        if let Some(previous) = seen.insert(name, source)
            && previous != source
        {
            return Err(Error::Name(format!("{what}: {previous:?} and {source:?} both become {name:?}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_from_wire_keys() {
        assert_eq!(field("Binding.Alg").unwrap(), "binding_alg");
        assert_eq!(field("Config.TimeStep").unwrap(), "config_time_step");
        assert_eq!(field("PageSize").unwrap(), "page_size");
        assert_eq!(field("type").unwrap(), "type_");
        assert_eq!(field("send_code_attempts").unwrap(), "send_code_attempts");
    }

    #[test]
    fn variants_from_values() {
        assert_eq!(variant("max_attempts_reached").unwrap(), "MaxAttemptsReached");
        assert_eq!(variant("factor.created").unwrap(), "FactorCreated");
        assert_eq!(variant("ES256").unwrap(), "Es256");
        assert_eq!(variant("6").unwrap(), "V6");
        assert!(variant("*").is_err());
        assert!(variant("self").is_err());
    }

    #[test]
    fn collisions_fail() {
        assert!(check_unique("fields", [("FooBar", "foo_bar"), ("Foo.Bar", "foo_bar")]).is_err());
        assert!(check_unique("fields", [("FooBar", "foo_bar"), ("FooBar", "foo_bar")]).is_ok());
    }
}
