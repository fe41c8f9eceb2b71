//! Reading a request body into a `plist::Value` with bounded nesting.
//!
//! `plist::Value::from_reader` builds iteratively, but a `Value` is dropped recursively: a
//! 1.5 MB body of 100 000 nested `<array>`s followed by one stray value aborts the process with a
//! stack overflow inside `from_reader` (measured with plist 1.10.3 on a 2 MiB thread stack,
//! the size of a tokio worker's). So the value is built here through the plist crate's serde
//! deserializer (same readers: XML, binary, ASCII; same error offsets) by a visitor that
//! refuses to go deeper than [`MAX_DEPTH`] before anything deep exists.

use std::fmt;
use std::io::Cursor;

use plist::{Dictionary, Value};
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

use super::error::{type_name, ParseError};

/// Deepest container nesting accepted. Apple's examples nest at most 7 levels (the SCEP
/// subject inside an enrollment profile); 64 leaves room without risking the stack.
pub const MAX_DEPTH: usize = 64;

/// The plist crate's private newtype names: asking for `PLIST-VALUE` switches its deserializer
/// to the mode `plist::Value` uses, where dates and UIDs arrive tagged instead of as a string /
/// integer. If a plist release renames them, dates degrade to strings and a test here fails.
const VALUE_NEWTYPE: &str = "PLIST-VALUE";
const DATE_NEWTYPE: &str = "PLIST-DATE";
const UID_NEWTYPE: &str = "PLIST-UID";

/// Marks the depth error so it can be told apart from the crate's own after the round trip
/// through `plist::Error` (which keeps serde errors only as text).
const TOO_DEEP: &str = "annal-mdm: nesting limit exceeded";

/// Parses plist bytes (XML, binary or ASCII) into a value, refusing nesting beyond [`MAX_DEPTH`].
pub fn parse_plist(body: &[u8]) -> Result<Value, ParseError> {
    match plist::from_reader::<_, Bounded>(Cursor::new(body)) {
        Ok(Bounded(value)) => Ok(value),
        Err(err) if err.to_string().contains(TOO_DEEP) => Err(ParseError::TooDeep { max: MAX_DEPTH }),
        Err(err) => Err(ParseError::malformed(&err)),
    }
}

/// Parses plist bytes whose top level must be a dictionary, as every MDM message's is.
pub fn parse_dict(body: &[u8]) -> Result<Dictionary, ParseError> {
    match parse_plist(body)? {
        Value::Dictionary(dict) => Ok(dict),
        other => Err(ParseError::NotADictionary {
            found: type_name(&other),
        }),
    }
}

/// The root of a bounded parse (`plist::from_reader` needs a `Deserialize` type, not a seed).
struct Bounded(Value);

impl<'de> de::Deserialize<'de> for Bounded {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Level(1).deserialize(deserializer).map(Bounded)
    }
}

/// Builds the value found at nesting level `.0` (the root container is level 1).
#[derive(Clone, Copy)]
struct Level(usize);

impl<'de> DeserializeSeed<'de> for Level {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_newtype_struct(VALUE_NEWTYPE, self)
    }
}

impl Level {
    /// Entering a container at this level: its elements are one level deeper.
    fn enter<E: de::Error>(self) -> Result<Level, E> {
        if self.0 > MAX_DEPTH {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(Level(self.0 + 1))
    }
}

impl<'de> Visitor<'de> for Level {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a plist value")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Integer(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Real(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Data(v.to_vec()))
    }

    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Data(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.enter()?;
        // No capacity from size_hint: a binary plist's claimed length is not trusted.
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(child)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.enter()?;
        let mut dict = Dictionary::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(child)?;
            dict.insert(key, value);
        }
        Ok(Value::Dictionary(dict))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (tag, variant) = data.variant::<String>()?;
        match tag.as_str() {
            DATE_NEWTYPE => Ok(Value::Date(variant.newtype_variant()?)),
            UID_NEWTYPE => Ok(Value::Uid(variant.newtype_variant()?)),
            _ => Err(de::Error::unknown_variant(&tag, &[DATE_NEWTYPE, UID_NEWTYPE])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(body: &str) -> Vec<u8> {
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><plist version="1.0">{body}</plist>"#).into_bytes()
    }

    fn nested_arrays(depth: usize, trailer: &str) -> Vec<u8> {
        xml(&format!(
            "{}{}{trailer}",
            "<array>".repeat(depth),
            "</array>".repeat(depth)
        ))
    }

    #[test]
    fn same_value_as_the_plist_crate_for_every_type() {
        let body = xml("<dict><key>s</key><string>x</string><key>i</key><integer>-3</integer>\
             <key>u</key><integer>18446744073709551615</integer><key>r</key><real>1.5</real>\
             <key>b</key><true/><key>d</key><data>AAEC</data>\
             <key>t</key><date>2024-10-21T12:00:00Z</date><key>a</key><array><dict/></array></dict>");
        let ours = parse_plist(&body).expect("valid plist");
        let theirs = Value::from_reader(Cursor::new(&body)).expect("valid plist");
        assert_eq!(ours, theirs);
        let dict = ours.as_dictionary().expect("dictionary");
        assert!(matches!(dict.get("t"), Some(Value::Date(_))), "dates must stay dates");
    }

    #[test]
    fn binary_plists_parse_too() {
        let mut dict = Dictionary::new();
        dict.insert("Status".into(), Value::String("Idle".into()));
        dict.insert("When".into(), Value::Date(std::time::SystemTime::UNIX_EPOCH.into()));
        let mut bytes = Vec::new();
        Value::Dictionary(dict.clone())
            .to_writer_binary(&mut bytes)
            .expect("encode");
        assert_eq!(parse_dict(&bytes), Ok(dict));
    }

    #[test]
    fn depth_limit_is_inclusive() {
        assert!(parse_plist(&nested_arrays(MAX_DEPTH, "")).is_ok());
        assert_eq!(
            parse_plist(&nested_arrays(MAX_DEPTH + 1, "")),
            Err(ParseError::TooDeep { max: MAX_DEPTH })
        );
    }

    #[test]
    fn very_deep_nesting_with_a_trailer_is_refused_without_overflow() {
        let body = nested_arrays(100_000, "<string>x</string>");
        assert_eq!(parse_plist(&body), Err(ParseError::TooDeep { max: MAX_DEPTH }));
    }

    #[test]
    fn syntax_errors_carry_the_offset() {
        match parse_plist(&xml("<dict><key>a</key><stving>x</stving></dict>")) {
            Err(ParseError::MalformedPlist { offset: Some(_), .. }) => {}
            other => panic!("expected a malformed plist with an offset, got {other:?}"),
        }
        assert!(matches!(parse_plist(b""), Err(ParseError::MalformedPlist { .. })));
    }

    /// Regression (checkin fuzzer): a binary plist whose dictionary key is a real made the
    /// serde layer quote the number in full, a 300-digit subnormal: a 401-byte error message.
    #[test]
    fn a_long_plist_message_is_cut() {
        let mut body = b"bplist00".to_vec();
        body.extend([0xd1, 0x01, 0x02]); // object 0 at 8: {object 1: object 2}
        body.push(0x23); // object 1 at 11: a real, the smallest subnormal
        body.extend(f64::from_bits(1).to_be_bytes());
        body.extend([0x51, b'x']); // object 2 at 20: "x"
        body.extend([8, 11, 20]); // offset table at 22
        body.extend([0; 6]);
        body.extend([1, 1]); // offset and object reference sizes
        body.extend(3u64.to_be_bytes()); // objects
        body.extend(0u64.to_be_bytes()); // top object
        body.extend(22u64.to_be_bytes()); // offset table offset
        match parse_plist(&body) {
            Err(err @ ParseError::MalformedPlist { .. }) => {
                let message = err.to_string();
                assert!(message.len() < 250, "{} bytes: {message}", message.len());
                assert!(message.contains("invalid type"), "{message}");
            }
            other => panic!("expected a malformed plist, got {other:?}"),
        }
    }

    #[test]
    fn trailing_values_are_refused() {
        let body = xml("<dict/><string>x</string>");
        assert!(matches!(parse_plist(&body), Err(ParseError::MalformedPlist { .. })));
    }

    #[test]
    fn top_level_must_be_a_dictionary() {
        assert_eq!(
            parse_dict(&xml("<array/>")),
            Err(ParseError::NotADictionary { found: "array" })
        );
        assert_eq!(
            parse_dict(&xml("<string>x</string>")),
            Err(ParseError::NotADictionary { found: "string" })
        );
    }
}
