//! Schemas: the type and constraints of every value, and the named types they register.

use openapiv3::{
    AdditionalProperties, ArrayType, IntegerType, ObjectType, ReferenceOr, Schema, SchemaKind, StringFormat,
    StringType, Type, VariantOrUnknownOrEmpty,
};
use serde_json::Value;

use super::{Facets, Loader, X_ENUM_VARNAMES, X_ERROR_CODE, X_JSON_MAX_LENGTH, code, component_name, unbox};
use crate::ir::{DefaultValue, EnumDef, Field, Rules, StructDef, Ty, TypeDef};
use crate::{Error, names};

impl Loader<'_> {
    /// The type named by a component schema, registering it.
    pub(super) fn component_ty(&mut self, name: &str) -> Result<Ty, Error> {
        let schema = self.component_schema(name)?;
        let rust_name = names::type_name(name)?;
        let (ty, _) = self.schema_value(schema, &rust_name)?;
        Ok(ty)
    }

    /// The type and facets of a property or parameter schema. `inline_name` names an inline
    /// object or enum that has no `title`.
    pub(super) fn value(&mut self, s: &ReferenceOr<Schema>, inline_name: &str) -> Result<(Ty, Facets), Error> {
        match s {
            ReferenceOr::Reference { reference } => {
                let name = component_name(reference, "schemas")?;
                let ty = self.component_ty(name)?;
                let schema = self.component_schema(name)?;
                let facets = self.facets(schema, &ty)?;
                Ok((ty, Facets { doc: None, default: None, error_code: None, ..facets }))
            }
            ReferenceOr::Item(schema) => self.schema_value(schema, inline_name),
        }
    }

    fn schema_value(&mut self, schema: &Schema, inline_name: &str) -> Result<(Ty, Facets), Error> {
        let named = schema.schema_data.title.as_deref().map(names::type_name).transpose()?;
        let name = named.as_deref().unwrap_or(inline_name);
        let ty = match &schema.schema_kind {
            SchemaKind::AllOf { all_of } if all_of.len() == 1 => {
                // A wrapper that lets a `$ref` carry extensions, a description or `nullable`.
                let (ty, inner) = self.value(&all_of[0], name)?;
                let outer = self.facets(schema, &ty)?;
                let facets = Facets {
                    rules: if outer.rules.is_empty() { inner.rules } else { outer.rules },
                    nullable: outer.nullable || inner.nullable,
                    error_code: outer.error_code.or(inner.error_code),
                    default: outer.default.or(inner.default),
                    doc: outer.doc.or(inner.doc),
                };
                return Ok((ty, facets));
            }
            SchemaKind::Type(Type::String(s)) => self.string_ty(s, schema, name)?,
            SchemaKind::Type(Type::Integer(i)) => integer_ty(i, name)?,
            SchemaKind::Type(Type::Boolean(_)) => Ty::Boolean,
            SchemaKind::Type(Type::Array(a)) => self.array_ty(a, name)?,
            SchemaKind::Type(Type::Object(o)) => self.object_ty(o, schema, name)?,
            other => return Err(Error::Spec(format!("{name}: unsupported schema {}", kind_name(other)))),
        };
        let facets = self.facets(schema, &ty)?;
        Ok((ty, facets))
    }

    fn string_ty(&mut self, s: &StringType, schema: &Schema, name: &str) -> Result<Ty, Error> {
        if !s.enumeration.is_empty() {
            let values: Vec<String> = s.enumeration.iter().flatten().cloned().collect();
            let variant_names = match schema.schema_data.extensions.get(X_ENUM_VARNAMES) {
                Some(Value::Array(names)) if names.len() == values.len() => names
                    .iter()
                    .map(|n| {
                        n.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| Error::Spec(format!("{name}: {X_ENUM_VARNAMES} must be strings")))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(_) => return Err(Error::Spec(format!("{name}: {X_ENUM_VARNAMES} must list one name per value"))),
                None => values.iter().map(|v| names::variant(v)).collect::<Result<Vec<_>, _>>()?,
            };
            names::check_unique(
                &format!("{name} variants"),
                values.iter().map(String::as_str).zip(variant_names.iter().map(String::as_str)),
            )?;
            let def = EnumDef {
                name: name.to_owned(),
                doc: schema.schema_data.description.clone(),
                variants: values.into_iter().zip(variant_names).collect(),
            };
            self.register(TypeDef::Enum(def))?;
            return Ok(Ty::Enum(name.to_owned()));
        }
        if let Some(prefix) = s.pattern.as_deref().and_then(sid_prefix) {
            return Ok(Ty::Sid { prefix });
        }
        Ok(match &s.format {
            VariantOrUnknownOrEmpty::Item(StringFormat::DateTime) => Ty::DateTime,
            VariantOrUnknownOrEmpty::Unknown(f) if f == "uri" => Ty::Url,
            VariantOrUnknownOrEmpty::Empty => Ty::String,
            VariantOrUnknownOrEmpty::Unknown(f) if f == "email" => Ty::String,
            other => return Err(Error::Spec(format!("{name}: string format {other:?} is not supported"))),
        })
    }

    fn array_ty(&mut self, a: &ArrayType, name: &str) -> Result<Ty, Error> {
        let items = a.items.as_ref().ok_or_else(|| Error::Spec(format!("{name}: array without items")))?;
        let (item, _) = self.value(&unbox(items), &format!("{name}Item"))?;
        Ok(Ty::Array(Box::new(item)))
    }

    fn object_ty(&mut self, o: &ObjectType, schema: &Schema, name: &str) -> Result<Ty, Error> {
        if o.properties.is_empty() {
            return match &o.additional_properties {
                None | Some(AdditionalProperties::Any(true)) => Ok(Ty::JsonObject),
                Some(AdditionalProperties::Schema(s)) => match self.resolve(s)?.schema_kind {
                    SchemaKind::Type(Type::String(ref st)) if st.enumeration.is_empty() => Ok(Ty::StringMap),
                    _ => Err(Error::Spec(format!("{name}: only maps of strings are supported"))),
                },
                Some(AdditionalProperties::Any(false)) => {
                    Err(Error::Spec(format!("{name}: an object without properties")))
                }
            };
        }
        if self.in_progress.contains(name) {
            return Ok(Ty::Struct(name.to_owned()));
        }
        self.in_progress.insert(name.to_owned());
        let mut fields = Vec::new();
        for (json, prop) in &o.properties {
            let inline_name = format!("{name}{}", names::type_name(json)?);
            let (ty, facets) = self.value(&unbox(prop), &inline_name)?;
            fields.push(Field {
                field: names::field(json)?,
                json: json.clone(),
                ty,
                nullable: facets.nullable || !o.required.contains(json),
                rules: facets.rules,
                doc: facets.doc,
            });
        }
        self.in_progress.remove(name);
        names::check_unique(&format!("{name} fields"), fields.iter().map(|f| (f.json.as_str(), f.field.as_str())))?;
        self.register(TypeDef::Struct(StructDef {
            name: name.to_owned(),
            doc: schema.schema_data.description.clone(),
            fields,
        }))?;
        Ok(Ty::Struct(name.to_owned()))
    }

    fn register(&mut self, def: TypeDef) -> Result<(), Error> {
        let name = match &def {
            TypeDef::Struct(s) => s.name.clone(),
            TypeDef::Enum(e) => e.name.clone(),
        };
        match self.types.get(&name) {
            Some(existing) if *existing != def => {
                Err(Error::Name(format!("two different types are both named {name}")))
            }
            Some(_) => Ok(()),
            None => {
                self.types.insert(name, def);
                Ok(())
            }
        }
    }

    fn facets(&self, schema: &Schema, ty: &Ty) -> Result<Facets, Error> {
        let data = &schema.schema_data;
        let mut rules = Rules::default();
        match &schema.schema_kind {
            SchemaKind::Type(Type::String(s)) => {
                rules.min_length = s.min_length.map(|n| n as u64);
                rules.max_length = s.max_length.map(|n| n as u64);
                if !matches!(ty, Ty::Sid { .. } | Ty::Enum(_)) {
                    rules.pattern = s.pattern.clone();
                }
            }
            SchemaKind::Type(Type::Integer(i)) => {
                rules.minimum = i.minimum.map(|m| if i.exclusive_minimum { m + 1 } else { m });
                rules.maximum = i.maximum.map(|m| if i.exclusive_maximum { m - 1 } else { m });
            }
            SchemaKind::Type(Type::Array(a)) => {
                if let Some(items) = &a.items {
                    let item = self.resolve_boxed(items)?;
                    if let Ty::Array(item_ty) = ty {
                        rules = self.facets(item, item_ty)?.rules;
                    }
                }
                rules.min_items = a.min_items.map(|n| n as u64);
                rules.max_items = a.max_items.map(|n| n as u64);
            }
            SchemaKind::Type(Type::Object(o)) if o.properties.is_empty() => {
                rules.max_properties = o.max_properties.map(|n| n as u64);
                if let Some(AdditionalProperties::Schema(values)) = &o.additional_properties
                    && let SchemaKind::Type(Type::String(st)) = &self.resolve(values)?.schema_kind
                {
                    rules.max_value_length = st.max_length.map(|n| n as u64);
                }
            }
            _ => {}
        }
        if let Some(v) = data.extensions.get(X_JSON_MAX_LENGTH) {
            rules.max_length =
                Some(v.as_u64().ok_or_else(|| Error::Spec(format!("{X_JSON_MAX_LENGTH} must be a number")))?);
        }
        let error_code = match data.extensions.get(X_ERROR_CODE) {
            Some(v) => Some(code(v).ok_or_else(|| Error::Spec(format!("{X_ERROR_CODE} {v} is not a code")))?),
            None => None,
        };
        Ok(Facets {
            rules,
            nullable: data.nullable,
            error_code,
            default: data.default.clone(),
            doc: data.description.clone(),
        })
    }
}

fn integer_ty(i: &IntegerType, name: &str) -> Result<Ty, Error> {
    if i.enumeration.is_empty() {
        Ok(Ty::Integer)
    } else {
        Err(Error::Spec(format!("{name}: integer enums are not supported (use minimum/maximum)")))
    }
}

/// `^VA[0-9a-fA-F]{32}$` → `VA`.
fn sid_prefix(pattern: &str) -> Option<String> {
    let prefix = pattern.strip_prefix('^')?.strip_suffix("[0-9a-fA-F]{32}$")?;
    (prefix.len() == 2 && prefix.bytes().all(|b| b.is_ascii_uppercase())).then(|| prefix.to_owned())
}

pub(super) fn default_value(v: &Option<Value>) -> Option<DefaultValue> {
    match v.as_ref()? {
        Value::Bool(b) => Some(DefaultValue::Boolean(*b)),
        Value::Number(n) => n.as_i64().map(DefaultValue::Integer),
        Value::String(s) => Some(DefaultValue::String(s.clone())),
        _ => None,
    }
}

fn kind_name(kind: &SchemaKind) -> &'static str {
    match kind {
        SchemaKind::Type(Type::Number(_)) => "number",
        SchemaKind::OneOf { .. } => "oneOf",
        SchemaKind::AnyOf { .. } => "anyOf",
        SchemaKind::AllOf { .. } => "allOf with several members",
        SchemaKind::Not { .. } => "not",
        SchemaKind::Any(_) => "without a type",
        SchemaKind::Type(_) => "type",
    }
}
