//! Reading an IATI activity file into plain records: what the importer needs and nothing more.
//!
//! Both generations of the standard are read: 2.0x (numeric transaction types, text in
//! `narrative` children, transactions' children in a fixed order) and 1.0x (letter codes, text in
//! the element itself, any order). Elements and attributes of other namespaces are ignored, as
//! the schemas allow them almost everywhere.

use roxmltree::{Document, Node, ParsingOptions};

use crate::error::{IatiError, Result};

/// The largest file read: IATI publishers split bigger datasets into several files.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// One `iati-activity`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    /// `iati-identifier`, trimmed (may be empty in bad files).
    pub identifier: String,
    /// 1-based line of the element in the file.
    pub line: u32,
    /// The version the activity declares (its own `@version`, d-portal's, or the file's).
    pub version: Option<String>,
    /// `reporting-org/@ref`.
    pub reporting_org: Option<String>,
    /// `reporting-org`'s name, its first narrative.
    pub reporting_org_name: Option<String>,
    /// The title's first narrative, whatever its language.
    pub title: Option<String>,
    /// Every narrative of the title, with its `xml:lang` (absent: the activity's language).
    pub titles: Vec<Narrative>,
    /// The activity's default language (`iati-activity/@xml:lang`).
    pub language: Option<String>,
    /// `@default-currency`.
    pub default_currency: Option<String>,
    /// `recipient-country` elements.
    pub countries: Vec<Place>,
    /// `recipient-region` elements.
    pub regions: Vec<Place>,
    /// `location` elements with a code.
    pub locations: Vec<Location>,
    /// `sector` elements.
    pub sectors: Vec<Sector>,
    /// `activity-date` of type 3 (end-planned) and 4 (end-actual), as written.
    pub end_planned: Option<String>,
    /// See `end_planned`.
    pub end_actual: Option<String>,
    /// `transaction` elements, in file order.
    pub transactions: Vec<Transaction>,
    /// `planned-disbursement` elements: the publisher's schedule.
    pub planned: Vec<Planned>,
}

/// One `planned-disbursement`, its fields as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Planned {
    /// `@type`: 1 original, 2 revised (absent in 1.0x).
    pub kind: Option<String>,
    /// `period-start/@iso-date`.
    pub start: Option<String>,
    /// `period-end/@iso-date`.
    pub end: Option<String>,
    /// `value`, as written.
    pub value: Option<String>,
    /// `value/@currency`.
    pub currency: Option<String>,
}

/// A text in one language.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Narrative {
    /// `xml:lang`, if given.
    pub lang: Option<String>,
    /// The text, trimmed.
    pub text: String,
}

impl Activity {
    /// The title in `lang` if it has one, else in the activity's own language, else its first.
    pub fn title_in(&self, lang: Option<&str>) -> Option<&str> {
        let in_lang = |want: &str| {
            self.titles
                .iter()
                .find(|n| n.lang.as_deref().or(self.language.as_deref()).is_some_and(|l| same_language(l, want)))
        };
        lang.and_then(in_lang)
            .or_else(|| self.language.as_deref().and_then(in_lang))
            .map(|n| n.text.as_str())
            .or(self.title.as_deref())
    }
}

/// `en` matches `EN` and `en-GB`: a language tag's primary subtag, case-insensitively.
fn same_language(tag: &str, want: &str) -> bool {
    let primary = |t: &str| t.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    primary(tag) == primary(want)
}

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// An element's `xml:lang`, trimmed, if not empty.
fn lang(n: Node) -> Option<String> {
    n.attributes()
        .find(|a| a.namespace() == Some(XML_NS) && a.name() == "lang")
        .map(|a| a.value().trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Every narrative of the element (2.0x), or its own text (1.0x), each with its language.
fn narratives(n: Node) -> Vec<Narrative> {
    let mut out: Vec<Narrative> =
        children(n, "narrative").filter_map(|c| own_text(c).map(|text| Narrative { lang: lang(c), text })).collect();
    if out.is_empty() {
        out.extend(own_text(n).map(|text| Narrative { lang: lang(n), text }));
    }
    out
}

/// A coded element — recipient country or region, sector: its code, vocabulary, share and
/// name, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coded {
    /// `@code`.
    pub code: String,
    /// `@vocabulary`.
    pub vocabulary: Option<String>,
    /// `@percentage`, as written.
    pub percentage: Option<String>,
    /// Its first narrative.
    pub name: Option<String>,
}

/// A recipient country or region.
pub type Place = Coded;
/// A sector (DAC purpose codes when the vocabulary is 1, 2 or absent).
pub type Sector = Coded;

/// A `location` with a code an area can be named by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// `administrative/@code` (or `location-id/@code`), with its vocabulary (G1 = GeoNames).
    pub code: String,
    /// The code's vocabulary.
    pub vocabulary: Option<String>,
    /// `name`'s first narrative.
    pub name: Option<String>,
}

/// One `transaction`, its fields as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    /// 1-based position among the activity's transactions.
    pub index: usize,
    /// 1-based line of the element in the file.
    pub line: u32,
    /// `@ref`.
    pub reference: Option<String>,
    /// `transaction-type/@code`: `2`, `12`, or a 1.0x letter code (`C`, `D`, `E`).
    pub code: Option<String>,
    /// `transaction-date/@iso-date`.
    pub date: Option<String>,
    /// `value`, as written.
    pub value: Option<String>,
    /// `value/@currency`.
    pub currency: Option<String>,
    /// `value/@value-date`.
    pub value_date: Option<String>,
    /// `description`'s first narrative.
    pub description: Option<String>,
    /// `receiver-org`'s name, or its `@ref`.
    pub receiver: Option<String>,
    /// `recipient-country`, when the transaction names one.
    pub country: Option<Place>,
    /// `recipient-region`, when the transaction names one.
    pub region: Option<Place>,
    /// `sector` elements of the transaction.
    pub sectors: Vec<Sector>,
}

/// What a file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IatiFile {
    /// The root's `@version` (absent in some exports and in old 1.0x files).
    pub version: Option<String>,
    /// Every `iati-activity`, in file order.
    pub activities: Vec<Activity>,
}

const DPORTAL_NS: &str = "http://d-portal.org/xmlns/iati-activities";

/// Reads a file's bytes: UTF-8 (with or without a byte-order mark) or UTF-16 with one.
pub fn parse(bytes: &[u8]) -> Result<IatiFile> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(IatiError::TooLarge { bytes: bytes.len(), max: MAX_FILE_BYTES });
    }
    let text = decode(bytes)?;
    let opts = ParsingOptions { allow_dtd: false, nodes_limit: u32::MAX };
    let doc = Document::parse_with_options(&text, opts).map_err(|e| IatiError::Xml(e.to_string()))?;
    let root = doc.root_element();
    let acts: Vec<Node> = match local(root) {
        Some("iati-activities") => root.children().filter(|n| local(*n) == Some("iati-activity")).collect(),
        Some("iati-activity") => vec![root],
        _ => return Err(IatiError::NotIati(root.tag_name().name().to_owned())),
    };
    let version = attr(root, "version");
    let activities = acts.into_iter().map(|a| activity(&doc, a, version.as_deref())).collect();
    Ok(IatiFile { version, activities })
}

fn decode(bytes: &[u8]) -> Result<String> {
    let utf16 = |b: &[u8], le: bool| -> Result<String> {
        if !b.len().is_multiple_of(2) {
            return Err(IatiError::Encoding("UTF-16 with an odd number of bytes".into()));
        }
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| if le { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) })
            .collect();
        String::from_utf16(&units).map_err(|_| IatiError::Encoding("invalid UTF-16".into()))
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => utf8(rest),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        _ => utf8(bytes),
    }
}

fn utf8(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        IatiError::Encoding(format!(
            "not UTF-8 at byte {} (IATI files are UTF-8, or UTF-16 with a byte-order mark)",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The element's name if it is in IATI's (empty) namespace.
fn local<'a>(n: Node<'a, '_>) -> Option<&'a str> {
    (n.is_element() && n.tag_name().namespace().is_none()).then(|| n.tag_name().name())
}

fn children<'a, 'i>(n: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(move |c| local(*c) == Some(name))
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    children(n, name).next()
}

/// A non-empty, trimmed attribute of no namespace.
fn attr(n: Node, name: &str) -> Option<String> {
    n.attributes()
        .find(|a| a.namespace().is_none() && a.name() == name)
        .map(|a| a.value().trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Text for people: the first non-empty `narrative` (2.0x) or the element's own text (1.0x),
/// with runs of white space (line breaks included) made single spaces.
fn text(n: Node) -> Option<String> {
    children(n, "narrative").map(own_text).chain(std::iter::once(own_text(n))).flatten().next()
}

fn own_text(n: Node) -> Option<String> {
    let joined: String = n.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect();
    let squeezed = joined.split_whitespace().collect::<Vec<_>>().join(" ");
    (!squeezed.is_empty()).then_some(squeezed)
}

fn first_text(n: Node, name: &'static str) -> Option<String> {
    children(n, name).find_map(text)
}

fn line(doc: &Document, n: Node) -> u32 {
    doc.text_pos_at(n.range().start).row
}

/// A coded element; one without a code is skipped (1.0x allowed a sector named by its text
/// alone, which cannot become a category).
fn coded(n: Node) -> Option<Coded> {
    Some(Coded {
        code: attr(n, "code")?,
        vocabulary: attr(n, "vocabulary"),
        percentage: attr(n, "percentage"),
        name: text(n),
    })
}

fn location(n: Node) -> Option<Location> {
    let coded = children(n, "administrative")
        .find(|a| attr(*a, "code").is_some())
        .or_else(|| child(n, "location-id").filter(|a| attr(*a, "code").is_some()))?;
    Some(Location {
        code: attr(coded, "code")?,
        vocabulary: attr(coded, "vocabulary"),
        name: child(n, "name").and_then(text),
    })
}

fn activity(doc: &Document, a: Node, file_version: Option<&str>) -> Activity {
    let dportal = a.attributes().find(|x| x.namespace() == Some(DPORTAL_NS) && x.name() == "version");
    let dates = |ty: [&str; 2]| {
        children(a, "activity-date")
            .find(|d| attr(*d, "type").is_some_and(|t| ty.contains(&t.as_str())))
            .and_then(|d| attr(d, "iso-date"))
    };
    let reporting = child(a, "reporting-org");
    Activity {
        identifier: child(a, "iati-identifier").and_then(own_text).unwrap_or_default(),
        line: line(doc, a),
        version: attr(a, "version")
            .or_else(|| dportal.map(|x| x.value().to_owned()))
            .or_else(|| file_version.map(str::to_owned)),
        reporting_org: reporting.and_then(|r| attr(r, "ref")),
        reporting_org_name: reporting.and_then(text),
        title: first_text(a, "title"),
        titles: children(a, "title").flat_map(narratives).collect(),
        language: lang(a),
        default_currency: attr(a, "default-currency"),
        countries: children(a, "recipient-country").filter_map(coded).collect(),
        regions: children(a, "recipient-region").filter_map(coded).collect(),
        locations: children(a, "location").filter_map(location).collect(),
        sectors: children(a, "sector").filter_map(coded).collect(),
        end_planned: dates(["3", "end-planned"]),
        end_actual: dates(["4", "end-actual"]),
        transactions: children(a, "transaction").enumerate().map(|(i, t)| transaction(doc, t, i + 1)).collect(),
        planned: children(a, "planned-disbursement").map(planned).collect(),
    }
}

fn planned(p: Node) -> Planned {
    let value = child(p, "value");
    Planned {
        kind: attr(p, "type"),
        start: child(p, "period-start").and_then(|d| attr(d, "iso-date")),
        end: child(p, "period-end").and_then(|d| attr(d, "iso-date")),
        value: value.and_then(own_text),
        currency: value.and_then(|v| attr(v, "currency")),
    }
}

fn transaction(doc: &Document, t: Node, index: usize) -> Transaction {
    let value = child(t, "value");
    Transaction {
        index,
        line: line(doc, t),
        reference: attr(t, "ref"),
        code: child(t, "transaction-type").and_then(|c| attr(c, "code")),
        date: child(t, "transaction-date").and_then(|d| attr(d, "iso-date")),
        value: value.and_then(own_text),
        currency: value.and_then(|v| attr(v, "currency")),
        value_date: value.and_then(|v| attr(v, "value-date")),
        description: first_text(t, "description"),
        receiver: child(t, "receiver-org").and_then(|r| text(r).or_else(|| attr(r, "ref"))),
        country: child(t, "recipient-country").and_then(coded),
        region: child(t, "recipient-region").and_then(coded),
        sectors: children(t, "sector").filter_map(coded).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<iati-activities version="2.03" xmlns:x="urn:x">
 <x:meta/>
 <iati-activity default-currency="EUR" x:foo="1">
  <iati-identifier> XM-1-A </iati-identifier>
  <reporting-org ref="XM-1" type="10"><narrative>Agency
   One</narrative></reporting-org>
  <title><narrative xml:lang="en">Health data</narrative></title>
  <activity-date type="3" iso-date="2016-12-31"/>
  <recipient-country code="ML" percentage="60"><narrative>Mali</narrative></recipient-country>
  <recipient-country code="NE" percentage="40"/>
  <sector vocabulary="1" code="12196" percentage="100"/>
  <transaction ref="t1">
   <transaction-type code="2"/><transaction-date iso-date="2014-01-15"/>
   <value currency="USD" value-date="2014-01-15">1000.50</value>
  </transaction>
  <transaction>
   <transaction-type code="3"/><transaction-date iso-date="2014-06-01"/>
   <value value-date="2014-06-01">400</value>
   <recipient-country code="ML"/>
  </transaction>
 </iati-activity>
</iati-activities>"#;

    #[test]
    fn reads_a_2_03_activity() {
        let f = parse(V2.as_bytes()).unwrap();
        assert_eq!(f.version.as_deref(), Some("2.03"));
        let a = &f.activities[0];
        assert_eq!(a.identifier, "XM-1-A");
        assert_eq!(a.line, 4);
        assert_eq!(a.reporting_org.as_deref(), Some("XM-1"));
        assert_eq!(a.reporting_org_name.as_deref(), Some("Agency One"));
        assert_eq!(a.title.as_deref(), Some("Health data"));
        assert_eq!(a.default_currency.as_deref(), Some("EUR"));
        assert_eq!(a.countries.len(), 2);
        assert_eq!(a.countries[0].percentage.as_deref(), Some("60"));
        assert_eq!(a.countries[0].name.as_deref(), Some("Mali"));
        assert_eq!(a.sectors[0].code, "12196");
        assert_eq!(a.end_planned.as_deref(), Some("2016-12-31"));
        let t = &a.transactions;
        assert_eq!(
            (t[0].code.as_deref(), t[0].value.as_deref(), t[0].currency.as_deref()),
            (Some("2"), Some("1000.50"), Some("USD"))
        );
        assert_eq!(t[0].reference.as_deref(), Some("t1"));
        assert_eq!((t[1].index, t[1].currency.as_deref()), (2, None));
        assert_eq!(t[1].country.as_ref().map(|c| c.code.as_str()), Some("ML"));
    }

    #[test]
    fn reads_1_0x_text_and_letter_codes_in_any_order() {
        let xml = r#"<iati-activities version="1.03"><iati-activity default-currency="GBP">
          <iati-identifier>GB-1-1</iati-identifier><title xml:lang="en">Old style</title>
          <transaction><value value-date="2012-01-01">5</value>
            <transaction-type code="C">Commitment</transaction-type>
            <transaction-date iso-date="2012-01-01">Q1 2012</transaction-date></transaction>
        </iati-activity></iati-activities>"#;
        let a = &parse(xml.as_bytes()).unwrap().activities[0];
        assert_eq!(a.title.as_deref(), Some("Old style"));
        assert_eq!(a.transactions[0].code.as_deref(), Some("C"));
        assert_eq!(a.transactions[0].date.as_deref(), Some("2012-01-01"));
        assert_eq!(a.version.as_deref(), Some("1.03"));
    }

    #[test]
    fn a_title_is_chosen_by_language() {
        let xml = r#"<iati-activities version="2.03"><iati-activity xml:lang="en">
          <iati-identifier>XM-1</iati-identifier>
          <title><narrative xml:lang="fr">Données de santé</narrative><narrative>Health data</narrative>
          <narrative xml:lang="es-ES">Datos</narrative></title></iati-activity></iati-activities>"#;
        let a = &parse(xml.as_bytes()).unwrap().activities[0];
        assert_eq!(a.title.as_deref(), Some("Données de santé"), "the first, whatever its language");
        assert_eq!(a.title_in(None), Some("Health data"), "the activity's own language");
        assert_eq!(a.title_in(Some("FR")), Some("Données de santé"));
        assert_eq!(a.title_in(Some("es")), Some("Datos"));
        assert_eq!(a.title_in(Some("pt")), Some("Health data"), "else the activity's language");
        let bare = xml.replace(r#" xml:lang="en""#, "");
        let a = &parse(bare.as_bytes()).unwrap().activities[0];
        assert_eq!(a.title_in(Some("de")), Some("Données de santé"), "else the first");
    }

    #[test]
    fn decodes_utf16_with_a_bom() {
        let xml = "<iati-activities version=\"2.03\"><iati-activity><iati-identifier>Ségou</iati-identifier></iati-activity></iati-activities>";
        let mut le = vec![0xFF, 0xFE];
        le.extend(xml.encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert_eq!(parse(&le).unwrap().activities[0].identifier, "Ségou");
        let mut be = vec![0xFE, 0xFF];
        be.extend(xml.encode_utf16().flat_map(|u| u.to_be_bytes()));
        assert_eq!(parse(&be).unwrap().activities[0].identifier, "Ségou");
    }

    #[test]
    fn refuses_what_is_not_iati() {
        assert!(matches!(parse(b"hello"), Err(IatiError::Xml(_))));
        assert!(matches!(parse(b"<html/>"), Err(IatiError::NotIati(n)) if n == "html"));
        assert!(matches!(parse(b"<iati-activities><iati-activity>"), Err(IatiError::Xml(_))));
        assert!(matches!(parse(b"<a>\xE9</a>"), Err(IatiError::Encoding(_))));
        let dtd = b"<!DOCTYPE a [<!ENTITY x \"y\">]><iati-activities/>";
        assert!(matches!(parse(dtd), Err(IatiError::Xml(_))));
    }
}
