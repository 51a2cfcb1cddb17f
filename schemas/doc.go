// Package schemas is OneVisit's schema registry: the JSON Schema
// (2020-12) files that say what a record of each dataset holds, and the Go
// code that loads them, validates records against them, turns CSV rows into
// typed records, and refuses a new schema version that would break the
// readers or writers of the previous one.
//
// # Files
//
// The schema files live next to this package, one folder per dataset and
// one file per version: household/v1.json, tax/v1.json, property/v1.json.
// They are embedded in the binary (Files, Default). Load reads the same
// layout from any fs.FS:
//
//   - a top-level folder holding at least one file named v<N>.json is a
//     dataset named after the folder (lower-case letters, digits and _,
//     starting with a letter); other folders are ignored;
//   - its versions are v1.json, v2.json, ... with no gaps and no leading
//     zeros; another .json file in a dataset folder is an error; files of
//     other types are ignored;
//   - a schema id names one version: "household/v1".
//
// # The OneVisit schema profile
//
// Records are flat: one object of named scalar fields, because each field
// is disclosed (and withheld) on its own. Load refuses, with ErrBadSchema,
// any file that is not strict JSON as schemas/jsonstrict decodes records
// (UTF-8 without lone surrogates, no repeated or case-variant keys under
// Unicode folding, no NUL in keys, nesting at most jsonstrict.MaxDepth, at
// most 1 MiB) or that leaves this profile:
//
//   - root keywords: "$schema" (exactly
//     https://json-schema.org/draft/2020-12/schema), "$id" (exactly
//     https://onevisit.example/schemas/<dataset>/v<N>), "type": "object",
//     "properties" (non-empty), "required" (names of properties),
//     "additionalProperties": false, the annotations below, and "title",
//     "description", "$comment";
//   - "x-onevisit-subject": the field that identifies the citizen (or, for
//     a dataset about organisations such as business_licence, the
//     company); it must be a required property of type "string". Its
//     format says what a subject is: resident-id for persons,
//     unified-social-credit-code for organisations (SubjectFormat;
//     ValidSubject checks a request's or a delete record's subject by
//     it);
//   - "x-onevisit-compatibility": BACKWARD, FORWARD, FULL or NONE;
//   - per property: "type" (string, integer, number, boolean, null, or an
//     array of them), "format" (only with string: date, date-time, email,
//     uri, resident-id, unified-social-credit-code, real-estate-unit),
//     "enum" (scalars), "pattern", "minLength", "maxLength" (only with
//     string), "minimum", "maximum", "exclusiveMinimum",
//     "exclusiveMaximum" (only with integer or number), and "title",
//     "description", "examples", "$comment".
//
// No other keyword is allowed; in particular there is no "$ref", so a
// schema never makes OneVisit fetch anything: a remote reference is
// refused by name, and the JSON Schema compiler's loader refuses every URL
// as a second line. Format assertion is on: "format" is checked, not
// merely annotated.
//
// # Validation
//
// Validate checks a record's fields (as schemas/jsonstrict
// decodes them) and returns nil or a *ValidationError for the FIRST
// violation, where violations are ordered by JSON pointer (byte order),
// then by keyword: value, required, additionalProperties, type, enum,
// format, then the others by name. A missing required field is reported at
// the pointer it would have ("/birth_date"), a field the schema does not
// define at its own pointer. Violations returns them all in that order.
// Reasons never contain a value from the record. A number longer than 64
// characters or with an exponent beyond ±400 is refused (keyword "value")
// before any arithmetic, as is a Go value that is not JSON.
//
// Coerce turns a CSV row into such a record (see its doc).
//
// # Domain formats
//
// Each format is a function that returns nil or a *FormatError whose
// Reason is one of the Reason constants; the same functions are
// registered with the validator. Values are ASCII; anything else (full-
// width digits, white space anywhere, lower-case letters) is refused.
//
// resident-id, PRC resident identity number (公民身份号码, GB 11643-1999),
// ValidResidentID:
//
//   - exactly 18 bytes, otherwise "length";
//   - characters 1-17 are ASCII digits and character 18 is a digit or an
//     upper-case X, otherwise "character";
//   - characters 1-2 are a province-level code of GB/T 2260 (11-15, 21-23,
//     31-37, 41-46, 50-54, 61-65) or 71, 81, 82, 83 (Taiwan, Hong Kong,
//     Macao, residence permits), otherwise "area code"; the rest of the
//     six-digit area code is not checked (codes of abolished districts
//     stay valid in old numbers);
//   - characters 7-14 are a birth date YYYYMMDD that exists in the
//     Gregorian calendar, is not before 1900-01-01 and not after today in
//     China (UTC+8), otherwise "birth date";
//   - character 18 is the ISO 7064 MOD 11-2 check character: the sum of
//     digit i times weight i (7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2), mod 11,
//     mapped 0..10 to 1 0 X 9 8 7 6 5 4 3 2, otherwise "check character".
//
// The sequence digits 15-17 (odd 17th digit: male) are not compared with
// any other field.
//
// unified-social-credit-code, 统一社会信用代码 (GB 32100-2015),
// ValidCreditCode:
//
//   - exactly 18 bytes, otherwise "length";
//   - every character is in the code alphabet 0-9 A-H J-N P-R T U W-Y (no
//     I, O, S, V, Z; upper case only), otherwise "character";
//   - characters 3-8 (the administrative division code) are digits,
//     otherwise "administrative division";
//   - character 18 is the check character: with each character's value
//     its index in the alphabet (0-30), the sum of value i times weight i
//     (1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28), C = 31 - sum mod 31,
//     C = 31 meaning 0, and the character of value C, otherwise "check
//     character".
//
// The registration authority (character 1), the organisation category
// (character 2) and the GB 11714 check of the organisation code
// (characters 9-17) are not checked.
//
// real-estate-unit, real-estate unit number (不动产单元号, GB/T
// 37346-2019), ValidUnitNumber, 28 characters:
//
//   - exactly 28 bytes, otherwise "length";
//   - characters 1-6: a county-level administrative division code, digits
//     whose first two are a mainland province code (as above without 71,
//     81, 82, 83) and whose last four are not 0000; characters 7-12: the
//     cadastral zone and sub-zone (地籍区, 地籍子区), digits; otherwise
//     "administrative division";
//   - characters 13-14: the parcel feature code (宗地/宗海特征码): first
//     G (state), J (collective) or Z (undetermined ownership), second one
//     of A B C D E F G H S W X Y (kind of right), otherwise "parcel type";
//   - characters 15-19: parcel sequence number, digits, not 00000,
//     otherwise "parcel sequence";
//   - character 20: the fixture feature code (定着物特征码) F (building),
//     L (forest), Q (other fixture) or W (no fixture), otherwise "fixture
//     type";
//   - characters 21-28: the fixture unit number, digits, 00000000 exactly
//     when character 20 is W, otherwise "fixture unit".
//
// Which letter pairs make sense together (e.g. A only after J) is not
// checked.
//
// date: exactly YYYY-MM-DD in ASCII digits, a real Gregorian date, year
// 0001-9999 (reason "date").
//
// ContainsIdentity finds an identity number or credit code anywhere inside
// a string (a resident ID with a wrong or lowercase check character too),
// for values that must never carry one (record ids, case ids, key ids);
// RedactIdentities masks them in text bound for a log. Their shapes have
// enough structure (province, date, credit-code check character) that hex
// digests and request ids do not match by chance.
//
// # Compatibility
//
// Check compares each version with the one before it (not transitively),
// under the union of the modes the two versions declare: a version cannot
// lift the promise its predecessor made, and a dataset can relax its mode
// only by a compatible step. Since schemas are closed
// (additionalProperties false), a reader refuses any field it does not
// define. The rules, named as in *CompatibilityError.Rule:
//
//	change (old -> new)      breaks BACKWARD   breaks FORWARD
//	                         (new reads old)   (old reads new)
//	field-added (optional)         no               yes
//	required-field-added           yes              yes
//	field-removed (optional)       yes              no
//	required-field-removed         yes              yes
//	field-made-required            yes              no
//	field-made-optional            no               yes
//	<aspect>-narrowed              yes              no
//	<aspect>-widened               no               yes
//	<aspect>-changed               yes              yes
//	subject-changed                always, in every mode including NONE
//
// FULL breaks on anything either column marks; NONE only on
// subject-changed. An aspect is narrowed when the new version accepts a
// strict subset of what the old one accepted for a field, widened when a
// strict superset, changed when neither. The aspects:
//
//   - type: integer is a subset of number, so integer -> number widens;
//     a type change reports only type-*, not the aspects it implies;
//   - enum: a set of values; adding an enum narrows, removing one widens;
//   - format: adding a format narrows, removing it widens, changing it
//     changes (formats are not compared for inclusion);
//   - pattern: as format (regular expressions are not compared);
//   - range: the interval from minimum/exclusiveMinimum and
//     maximum/exclusiveMaximum, compared exactly (for an integer field
//     "> 0" and ">= 1" count as different);
//   - length: the interval minLength..maxLength.
//
// Titles, descriptions, examples and comments never matter. Load does not
// run Check; Default does, and the exchange must refuse to start with an
// incompatible set. CheckDir and CheckFS load a folder and return one
// Result per dataset for the CLI (onevisit schema check [DIR]).
//
// # Errors
//
// ErrInvalid (with *ValidationError or *FormatError), ErrUnknownSchema
// (with ErrUnknownDataset or ErrUnknownVersion), ErrBadSchema,
// ErrIncompatible (with *CompatibilityError); each sentinel's comment says
// what the caller should do. ErrInvalid, ErrUnknownSchema, ErrBadSchema
// and ErrIncompatible name the stable error code a client sees
// (schema_violation, unknown_schema, bad_schema, incompatible_schema;
// the last two when an officer proposes a version at runtime) with a
// Code method, and *ValidationError its pointer with JSONPointer; the
// exchange's catalogue (exchange/wire) finds them by those methods, so
// this package imports nothing from the exchange. A Registry is safe for
// concurrent use; it changes only by Add, which a running exchange calls
// on its own Clone for a version its officers approved (runtime.go:
// Prepare checks the file and its compatibility, Add makes it the latest).
package schemas
