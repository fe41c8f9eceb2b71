//! Typed reads of a message's keys. Values are moved out of the dictionary (no copy of a
//! multi-MiB `Data`), and every error names the key's full path for the 400 body.

use plist::{Dictionary, Value};

use super::error::ParseError;

/// The keys of one dictionary found at path `at` (empty for the top level).
pub(crate) struct Fields<'a> {
    dict: &'a mut Dictionary,
    at: String,
}

impl<'a> Fields<'a> {
    pub(crate) fn top(dict: &'a mut Dictionary) -> Self {
        Fields {
            dict,
            at: String::new(),
        }
    }

    pub(crate) fn at(dict: &'a mut Dictionary, at: String) -> Self {
        Fields { dict, at }
    }

    pub(crate) fn path(&self, key: &str) -> String {
        if self.at.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.at)
        }
    }

    pub(crate) fn opt_string(&mut self, key: &str) -> Result<Option<String>, ParseError> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ParseError::wrong_type(self.path(key), "string", &other)),
        }
    }

    pub(crate) fn string(&mut self, key: &str) -> Result<String, ParseError> {
        self.opt_string(key)?.ok_or_else(|| ParseError::missing(self.path(key)))
    }

    pub(crate) fn opt_data(&mut self, key: &str) -> Result<Option<Vec<u8>>, ParseError> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::Data(d)) => Ok(Some(d)),
            Some(other) => Err(ParseError::wrong_type(self.path(key), "data", &other)),
        }
    }

    pub(crate) fn data(&mut self, key: &str) -> Result<Vec<u8>, ParseError> {
        self.opt_data(key)?.ok_or_else(|| ParseError::missing(self.path(key)))
    }

    pub(crate) fn opt_bool(&mut self, key: &str) -> Result<Option<bool>, ParseError> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(b)),
            Some(other) => Err(ParseError::wrong_type(self.path(key), "boolean", &other)),
        }
    }

    /// A signed integer; an unsigned one above `i64::MAX` is a wrong type, not a wrap-around.
    pub(crate) fn opt_i64(&mut self, key: &str) -> Result<Option<i64>, ParseError> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::Integer(i)) => match i.as_signed() {
                Some(n) => Ok(Some(n)),
                None => Err(ParseError::WrongType {
                    key: self.path(key),
                    expected: "signed 64-bit integer",
                    found: "integer",
                }),
            },
            Some(other) => Err(ParseError::wrong_type(self.path(key), "integer", &other)),
        }
    }

    pub(crate) fn i64(&mut self, key: &str) -> Result<i64, ParseError> {
        self.opt_i64(key)?.ok_or_else(|| ParseError::missing(self.path(key)))
    }

    /// A dictionary kept whole as a `Value` (a shape this layer does not interpret).
    pub(crate) fn opt_dict_value(&mut self, key: &str) -> Result<Option<Value>, ParseError> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(v @ Value::Dictionary(_)) => Ok(Some(v)),
            Some(other) => Err(ParseError::wrong_type(self.path(key), "dictionary", &other)),
        }
    }

    pub(crate) fn opt_array(&mut self, key: &str) -> Result<Option<Vec<Value>>, ParseError> {
        match self.dict.remove(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(ParseError::wrong_type(self.path(key), "array", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(entries: &[(&str, Value)]) -> Dictionary {
        entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn reads_move_values_out() {
        let mut d = dict(&[("Token", Value::Data(vec![1, 2])), ("Topic", Value::String("t".into()))]);
        let mut f = Fields::top(&mut d);
        assert_eq!(f.data("Token"), Ok(vec![1, 2]));
        assert_eq!(f.string("Topic"), Ok("t".into()));
        assert!(d.is_empty());
    }

    #[test]
    fn errors_name_the_full_path() {
        let mut d = dict(&[("ErrorCode", Value::String("12021".into()))]);
        let mut f = Fields::at(&mut d, "ErrorChain[0]".into());
        assert_eq!(
            f.i64("ErrorCode"),
            Err(ParseError::WrongType {
                key: "ErrorChain[0].ErrorCode".into(),
                expected: "integer",
                found: "string"
            })
        );
        assert_eq!(
            f.string("ErrorDomain"),
            Err(ParseError::MissingKey {
                key: "ErrorChain[0].ErrorDomain".into()
            })
        );
    }

    #[test]
    fn huge_unsigned_is_not_an_i64() {
        let mut d = dict(&[("N", Value::Integer(u64::MAX.into()))]);
        let err = Fields::top(&mut d).opt_i64("N");
        assert!(matches!(
            err,
            Err(ParseError::WrongType {
                expected: "signed 64-bit integer",
                ..
            })
        ));
    }

    #[test]
    fn optional_reads_accept_absence_but_not_wrong_types() {
        let mut d = dict(&[("AwaitingConfiguration", Value::String("yes".into()))]);
        let mut f = Fields::top(&mut d);
        assert_eq!(f.opt_bool("NotOnConsole"), Ok(None));
        assert_eq!(f.opt_data("UnlockToken"), Ok(None));
        assert_eq!(
            f.opt_bool("AwaitingConfiguration"),
            Err(ParseError::WrongType {
                key: "AwaitingConfiguration".into(),
                expected: "boolean",
                found: "string"
            })
        );
    }

    #[test]
    fn containers_are_typed() {
        let mut d = dict(&[
            ("TokenParameters", Value::Array(vec![])),
            ("ErrorChain", Value::Dictionary(Dictionary::new())),
        ]);
        let mut f = Fields::top(&mut d);
        assert!(matches!(
            f.opt_dict_value("TokenParameters"),
            Err(ParseError::WrongType { found: "array", .. })
        ));
        assert!(matches!(
            f.opt_array("ErrorChain"),
            Err(ParseError::WrongType {
                found: "dictionary",
                ..
            })
        ));
    }
}
