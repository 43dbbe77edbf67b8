package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/config"
)

// annotationCosignSignature carries the base64 signature of a legacy
// cosign simple-signing layer.
const annotationCosignSignature = "dev.cosignproject.cosign/signature"

// simpleSigningType is the critical.type of a cosign image signature.
const simpleSigningType = "cosign container image signature"

// simpleSigning is the payload cosign signs in its legacy format.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// legacyTag returns the tag under which cosign v2 stores signatures.
func legacyTag(img Image) string { return img.Digest.Algorithm + "-" + img.Digest.Hex + ".sig" }

// checkLegacy reads the legacy .sig tag and checks every signature layer
// in it. It returns one evidence entry per layer, none when the tag does
// not exist, or an error when the source cannot be read.
func (p *Policy) checkLegacy(ctx context.Context, src source, img Image) ([]api.ReleaseEvidence, error) {
	raw, h, err := src.tag(ctx, img, legacyTag(img))
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}

	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return []api.ReleaseEvidence{{
			Source: SourceLegacySigTag, Manifest: h.String(), Kind: config.SignatureKindCosignLegacy,
			Result: resultRejected, Reason: fmt.Sprintf("signature manifest is not valid JSON: %v", err),
		}}, nil
	}

	var out []api.ReleaseEvidence
	for i, layer := range m.Layers {
		if i == maxReferrers {
			break
		}
		ev := api.ReleaseEvidence{Source: SourceLegacySigTag, Manifest: h.String(), Kind: config.SignatureKindCosignLegacy}
		if string(layer.MediaType) != mediaTypeSimpleSigning {
			ignore(&ev, "layer %s has media type %q, not a cosign signature", layer.Digest, layer.MediaType)
			out = append(out, ev)
			continue
		}
		if !p.kinds[config.SignatureKindCosignLegacy] {
			ignore(&ev, "the tenant does not accept %s signatures", config.SignatureKindCosignLegacy)
			out = append(out, ev)
			continue
		}
		payload, err := src.blob(ctx, img, layer.Digest)
		if err != nil {
			var inc *inconsistentError
			if errors.Is(err, errNotFound) || errors.As(err, &inc) {
				return nil, inconsistentf("legacy signature layer %s: %v", layer.Digest, err)
			}
			return nil, err
		}
		p.checkSimpleSigning(&ev, payload, layer.Annotations[annotationCosignSignature], img)
		out = append(out, ev)
	}
	return out, nil
}

func (p *Policy) checkSimpleSigning(ev *api.ReleaseEvidence, payload []byte, sigB64 string, img Image) {
	sig, err := decodeBase64(sigB64)
	if err != nil || len(sig) == 0 {
		reject(ev, "signature annotation is missing or not base64")
		return
	}

	var keyID, keyName string
	for _, k := range p.keys {
		if k.verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload)) == nil {
			keyID, keyName = k.id, k.name
			break
		}
	}
	if keyID == "" {
		reject(ev, "no trusted key verifies the signature")
		return
	}
	ev.KeyID = keyID

	var ss simpleSigning
	if err := json.Unmarshal(payload, &ss); err != nil {
		reject(ev, "signed payload is not a simple-signing document: %v", err)
		return
	}
	if ss.Critical.Type != simpleSigningType {
		reject(ev, "signed payload has type %q, not %q", ss.Critical.Type, simpleSigningType)
		return
	}
	if ss.Critical.Image.DockerManifestDigest != img.Digest.String() {
		reject(ev, "signed digest %q is not the image digest %s", ss.Critical.Image.DockerManifestDigest, img.Digest)
		return
	}
	ev.Result = resultAccepted
	ev.Reason = fmt.Sprintf("signature verified with trusted key %q and it names the image digest", keyName)
}
