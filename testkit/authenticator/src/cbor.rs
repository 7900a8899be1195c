//! The slice of CBOR (RFC 8949) that attestation objects and COSE keys need, encoded in CTAP2's
//! canonical form so that the bytes match what a hardware authenticator would send.

/// A CBOR data item of the kinds WebAuthn uses here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// Major type 0 (n >= 0) or 1 (n < 0).
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
    /// Written with its keys sorted canonically, whatever order they are given in.
    Map(Vec<(Value, Value)>),
}

impl Value {
    pub(crate) fn text(text: &str) -> Value {
        Value::Text(text.to_owned())
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) if *n >= 0 => head(out, 0, n.unsigned_abs()),
            // CBOR stores -1 - n, which cannot overflow for any negative i64.
            Value::Int(n) => head(out, 1, (-1 - n).unsigned_abs()),
            Value::Bytes(bytes) => {
                head(out, 2, bytes.len() as u64);
                out.extend_from_slice(bytes);
            }
            Value::Text(text) => {
                head(out, 3, text.len() as u64);
                out.extend_from_slice(text.as_bytes());
            }
            Value::Map(entries) => {
                // CTAP2 canonical order: by the keys' encodings, shorter first, then bytewise.
                let mut encoded: Vec<(Vec<u8>, Vec<u8>)> =
                    entries.iter().map(|(key, value)| (key.encode(), value.encode())).collect();
                encoded.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
                head(out, 5, encoded.len() as u64);
                for (key, value) in encoded {
                    out.extend(key);
                    out.extend(value);
                }
            }
        }
    }
}

/// An item's initial bytes: the major type and its argument in the shortest form.
fn head(out: &mut Vec<u8>, major: u8, argument: u64) {
    let major = major << 5;
    match argument {
        0..=23 => out.push(major | argument as u8),
        24..=0xff => out.extend([major | 24, argument as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend((argument as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend((argument as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend(argument.to_be_bytes());
        }
    }
}

/// Reads one item from the front of `input`, returning it and the bytes after it; tests use it to
/// take apart what the authenticator produced.
#[cfg(test)]
pub(crate) fn decode(input: &[u8]) -> Option<(Value, &[u8])> {
    let (&initial, rest) = input.split_first()?;
    let (major, info) = (initial >> 5, initial & 0x1f);
    let (argument, mut rest) = match info {
        0..=23 => (u64::from(info), rest),
        24..=27 => {
            let width = 1usize << (info - 24);
            let (bytes, rest) = rest.split_at_checked(width)?;
            (bytes.iter().fold(0u64, |n, byte| n << 8 | u64::from(*byte)), rest)
        }
        _ => return None,
    };
    let value = match major {
        0 => Value::Int(i64::try_from(argument).ok()?),
        1 => Value::Int(-1 - i64::try_from(argument).ok()?),
        2 | 3 => {
            let (bytes, after) = rest.split_at_checked(usize::try_from(argument).ok()?)?;
            rest = after;
            if major == 2 { Value::Bytes(bytes.to_vec()) } else { Value::Text(String::from_utf8(bytes.to_vec()).ok()?) }
        }
        5 => {
            let mut entries = Vec::new();
            for _ in 0..argument {
                let (key, after) = decode(rest)?;
                let (value, after) = decode(after)?;
                entries.push((key, value));
                rest = after;
            }
            Value::Map(entries)
        }
        _ => return None,
    };
    Some((value, rest))
}

#[cfg(test)]
mod tests {
    use super::{Value, decode};

    #[test]
    fn integers_take_the_shortest_head() {
        let cases: [(i64, &[u8]); 12] = [
            (0, &[0x00]),
            (23, &[0x17]),
            (24, &[0x18, 0x18]),
            (255, &[0x18, 0xff]),
            (256, &[0x19, 0x01, 0x00]),
            (65_536, &[0x1a, 0x00, 0x01, 0x00, 0x00]),
            (1 << 32, &[0x1b, 0, 0, 0, 1, 0, 0, 0, 0]),
            (-1, &[0x20]),
            (-7, &[0x26]),
            (-24, &[0x37]),
            (-25, &[0x38, 0x18]),
            (-257, &[0x39, 0x01, 0x00]),
        ];
        for (n, expected) in cases {
            assert_eq!(Value::Int(n).encode(), expected, "{n}");
            assert_eq!(decode(expected), Some((Value::Int(n), &[][..])), "{n}");
        }
        assert_eq!(Value::Int(i64::MIN).encode(), [0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn strings_carry_their_length() {
        assert_eq!(Value::text("fmt").encode(), b"\x63fmt");
        assert_eq!(Value::Bytes(vec![0xaa; 32]).encode()[..2], [0x58, 0x20]);
        assert_eq!(Value::Bytes(vec![]).encode(), [0x40]);
    }

    #[test]
    fn map_keys_are_sorted_canonically() {
        let map = Value::Map(vec![
            (Value::text("authData"), Value::Int(0)),
            (Value::Int(-2), Value::Int(0)),
            (Value::text("fmt"), Value::Int(0)),
            (Value::Int(3), Value::Int(0)),
            (Value::Int(-1), Value::Int(0)),
            (Value::Int(1), Value::Int(0)),
            (Value::Int(24), Value::Int(0)),
        ]);
        let encoded = map.encode();
        let Some((Value::Map(entries), [])) = decode(&encoded) else { panic!("{encoded:02x?}") };
        let keys: Vec<Value> = entries.into_iter().map(|(key, _)| key).collect();
        let expected = [Value::Int(1), Value::Int(3), Value::Int(-1), Value::Int(-2), Value::Int(24)];
        assert_eq!(keys[..5], expected);
        assert_eq!(keys[5..], [Value::text("fmt"), Value::text("authData")]);
    }
}
