package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/pb33f/jsonschema/v6"
	"github.com/pb33f/jsonschema/v6/kind"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/schemas"
)

// The API contract has one source: openapi.json (embedded, served at
// GET /openapi.json). Every request a route accepts is checked against
// its operation there before the route's own checks run, by
// github.com/pb33f/libopenapi-validator (chosen over kin-openapi because
// the document is OpenAPI 3.1, whose JSON Schema dialect it implements):
// path and query parameters in handle, once the caller is authorized;
// the body in decodeBody (and the token form in token), once it has been
// read within the route's size limit and decoded strictly (so a syntax
// error, a repeated or case-variant key or an unknown field keeps its
// exchange/jsonstrict code), so a body is never read twice or past its
// limit. The server reads a JSON body whatever Content-Type the
// caller sent, so the body is checked as the media type the operation
// declares.
//
// A mismatch is refused 400 with a pointer to the field, under the code
// the route's own check would have given where one is narrower (so the
// wire contract does not depend on which check noticed first):
// a required field absent (or a top-level one null), or a string below
// its minLength when empty: missing_field; dataset outside the enum of the schema registry's
// datasets: unknown_dataset (404); subject not matching the resident-ID
// pattern: invalid_subject; an audit proof or page parameter: bad_range;
// anything else: request_schema. The document does not bound a query's
// purpose and case id (their descriptions state the bounds): the query
// flow refuses those itself, so the refusal is audited under the subject
// (exchange/query) instead of as a bare deny entry.
//
// Adding a route: add its operation to openapi.json in the same change
// (TestOpenAPIMatchesRoutes fails otherwise), with every status it can
// answer (TestOpenAPIDocumentsStatuses), minLength on required strings,
// and additionalProperties false on request objects.
var spec = sync.OnceValues(func() (*apiSpec, error) {
	doc, err := libopenapi.NewDocument(openapiDoc)
	if err != nil {
		return nil, fmt.Errorf("api: openapi.json: %w", err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("api: openapi.json: %w", err)
	}
	v := validator.NewValidatorFromV3Model(&m.Model, config.WithoutSecurityValidation(), config.WithURLEncodedBodyValidation(), config.WithFormatAssertions())
	s := &apiSpec{v: v, items: map[string]*v3.PathItem{}, params: map[string]bool{}}
	for path, item := range m.Model.Paths.PathItems.FromOldest() {
		s.items[path] = item
		for method, op := range item.GetOperations().FromOldest() {
			s.params[strings.ToUpper(method)+" "+path] = len(op.Parameters) > 0 || len(item.Parameters) > 0
		}
	}
	return s, nil
})

// apiSpec is the compiled document: the validator, and per route pattern
// its path item (so a request is not routed again) and whether its
// operation declares parameters (most do not: nothing to check).
type apiSpec struct {
	v      validator.Validator
	items  map[string]*v3.PathItem // by path
	params map[string]bool         // by "METHOD path"
}

// fieldCodes are the codes of the route checks a schema mismatch of that
// field (body property or parameter) stands for.
var fieldCodes = map[string]error{
	"dataset": codes.ErrUnknownDataset,
	"subject": codes.ErrBadSubject,
	"purpose": codes.ErrUnknownPurpose,
	"case_id": codes.ErrBadCaseID,
	"reason":  codes.ErrBadRequest,
	"records": codes.ErrBadRequest,
	"index":   codes.ErrBadRange,
	"size":    codes.ErrBadRange,
	"from":    codes.ErrBadRange,
	"to":      codes.ErrBadRange,
	"start":   codes.ErrBadRange,
	"end":     codes.ErrBadRange,
}

type specKey struct{}

// checkParams checks r's path and query parameters against its
// operation, and arms decodeBody to check the body.
func checkParams(r *http.Request) (*http.Request, error) {
	sp, err := spec()
	if err != nil {
		return r, err
	}
	r = r.WithContext(context.WithValue(r.Context(), specKey{}, true))
	// The operation is the route's: a GET route also serves HEAD, which
	// the document does not list, and is checked as the GET it is.
	c := r
	if m, _, ok := strings.Cut(r.Pattern, " "); ok && m != r.Method {
		c = r.Clone(r.Context())
		c.Method = m
	}
	if !sp.params[c.Method+" "+routePath(r)] && r.Pattern != "" {
		return r, nil
	}
	pv := sp.v.GetParameterValidator()
	for _, check := range []func(*http.Request) (bool, []*verrors.ValidationError){pv.ValidatePathParams, pv.ValidateQueryParams} {
		if ok, errs := check(c); !ok {
			return r, paramError(errs)
		}
	}
	return r, nil
}

// routePath is the path pattern of the route r was matched to
// ("POST /v1/query" gives "/v1/query"), or r's path outside the mux.
func routePath(r *http.Request) string {
	if _, p, ok := strings.Cut(r.Pattern, " "); ok {
		return p
	}
	return r.URL.Path
}

// checkBody checks a body read from r against r's operation, as
// mediaType. It does nothing for a request checkParams did not see.
func checkBody(r *http.Request, body []byte, mediaType string) error {
	if armed, _ := r.Context().Value(specKey{}).(bool); !armed {
		return nil
	}
	sp, err := spec()
	if err != nil {
		return err
	}
	c := r.Clone(r.Context())
	c.Body = io.NopCloser(bytes.NewReader(body))
	c.ContentLength = int64(len(body))
	c.Header.Set("Content-Type", mediaType)
	var ok bool
	var errs []*verrors.ValidationError
	if item, found := sp.items[routePath(r)]; found && r.Pattern != "" {
		ok, errs = sp.v.GetRequestBodyValidator().ValidateRequestBodyWithPathItem(c, item, routePath(r))
	} else {
		ok, errs = sp.v.GetRequestBodyValidator().ValidateRequestBody(c)
	}
	if !ok {
		return bodyError(errs)
	}
	return nil
}

func paramError(errs []*verrors.ValidationError) error {
	if len(errs) == 0 {
		return fmt.Errorf("api: parameters: %w", codes.ErrRequestSchema)
	}
	e := errs[0]
	name := e.ParameterName
	code := codes.ErrRequestSchema
	if c, ok := fieldCodes[name]; ok {
		code = c
	}
	if name == "" {
		return fmt.Errorf("api: %s: %w", e.Message, code)
	}
	return &codes.FieldError{Pointer: "/" + name, Err: fmt.Errorf("parameter %s: %s: %w", name, e.Reason, code)}
}

func bodyError(errs []*verrors.ValidationError) error {
	for _, e := range errs {
		for _, f := range e.SchemaValidationErrors {
			if f.OriginalJsonSchemaError != nil {
				return leafError(f.OriginalJsonSchemaError)
			}
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("api: body: %w", codes.ErrRequestSchema)
	}
	return fmt.Errorf("api: body: %s: %s: %w", errs[0].Message, errs[0].Reason, codes.ErrRequestSchema)
}

// leafError turns a JSON Schema error tree into a field error with the
// code of the route check it stands for: of its leaves, a missing or
// empty field first (missing_field), else the first leaf.
func leafError(ve *jsonschema.ValidationError) error {
	var leaves []*jsonschema.ValidationError
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	leaf := leaves[0]
	for _, l := range leaves {
		if missing(l) {
			leaf = l
			break
		}
	}
	loc := slices.Clone(leaf.InstanceLocation) // the field's; a missing or unknown property's below it
	field := ""
	if n := len(leaf.InstanceLocation); n > 0 {
		field = leaf.InstanceLocation[n-1]
	}
	code := codes.ErrRequestSchema
	switch k := leaf.ErrorKind.(type) {
	case *kind.Required:
		loc = append(loc, k.Missing[0])
		code = codes.ErrMissingField
	case *kind.AdditionalProperties:
		if len(k.Properties) > 0 {
			loc = append(loc, k.Properties[0])
		}
	case *kind.Type:
		if k.Got == "null" && len(leaf.InstanceLocation) == 1 { // a top-level field given as null reads as missing
			code = codes.ErrMissingField
		}
	case *kind.MinLength:
		if k.Got == 0 {
			code = codes.ErrMissingField
		} else if c, ok := fieldCodes[field]; ok {
			code = c
		}
	case *kind.Pattern, *kind.Enum, *kind.MaxLength, *kind.Const, *kind.MinItems, *kind.MaxItems:
		if c, ok := fieldCodes[field]; ok {
			code = c
		}
	}
	ptr := schemas.JSONPointer(loc)
	if ptr == "" {
		ptr = "/"
	}
	return &codes.FieldError{Pointer: ptr, Err: fmt.Errorf("body %s: %s: %w", ptr, strings.Join(leaf.ErrorKind.KeywordPath(), "/"), code)}
}

func missing(e *jsonschema.ValidationError) bool {
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		return len(k.Missing) > 0
	case *kind.MinLength:
		return k.Got == 0
	}
	return false
}
