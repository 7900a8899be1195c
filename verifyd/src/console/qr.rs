//! QR codes as inline SVG (no image request, nothing but this page's own markup).

use maud::{Markup, PreEscaped, html};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// `text` as an SVG QR code, or a note when it is too long for one.
pub fn svg(text: &str) -> Markup {
    match QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M) {
        Ok(code) => {
            let image = code
                .render::<svg::Color<'_>>()
                .min_dimensions(240, 240)
                .quiet_zone(true)
                .dark_color(svg::Color("#000000"))
                .light_color(svg::Color("#ffffff"))
                .build();
            // The renderer writes a whole SVG document; inline, the XML declaration goes.
            let start = image.find("<svg").unwrap_or(0);
            PreEscaped(image.get(start..).unwrap_or_default().to_owned())
        }
        Err(_) => html! { p.error { "The URI is too long for a QR code; enter the secret by hand." } },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_uri_becomes_an_inline_svg() {
        let svg = super::svg("otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP&issuer=Acme").into_string();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("<path") || svg.contains("<rect"), "{svg}");
        assert!(!svg.contains("<?xml"));
    }
}
