//! `GET /session/{id}/generate-pdf/`: a one-page PDF summary of a decision, written by hand
//! (PDF 1.4, the standard Helvetica font, no images) so that no PDF crate is needed in the
//! Worker. It holds figures and statuses only: facegate keeps no face image to put in it.

use serde_json::Value;

/// Renders the decision JSON (as `GET …/decision/` returns it) as PDF bytes.
pub fn decision_pdf(decision: &Value) -> Vec<u8> {
    let mut lines = vec![
        "facegate verification report".to_owned(),
        String::new(),
        format!("Session: {}", text(&decision["session_id"])),
        format!("Number: {}", text(&decision["session_number"])),
        format!("Status: {}", text(&decision["status"])),
        format!(
            "Workflow: {} (version {})",
            text(&decision["workflow_id"]),
            text(&decision["workflow_version"])
        ),
        format!("Vendor data: {}", text(&decision["vendor_data"])),
        format!("Created: {}", text(&decision["created_at"])),
    ];
    for check in decision["liveness_checks"].as_array().into_iter().flatten() {
        lines.push(String::new());
        lines.push(format!(
            "Liveness ({}): {}, score {}",
            text(&check["method"]),
            text(&check["status"]),
            text(&check["score"])
        ));
        lines.push(format!(
            "  face quality {}, luminance {}",
            text(&check["face_quality"]),
            text(&check["face_luminance"])
        ));
        lines.extend(warnings(check));
    }
    for m in decision["face_matches"].as_array().into_iter().flatten() {
        lines.push(String::new());
        lines.push(format!(
            "Face match: {}, score {}",
            text(&m["status"]),
            text(&m["score"])
        ));
        lines.push(format!(
            "  reference from session {}",
            text(&m["source_image_session_id"])
        ));
        lines.extend(warnings(m));
    }
    render(&lines)
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn warnings(item: &Value) -> Vec<String> {
    item["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            format!(
                "  warning {}: {}",
                text(&w["risk"]),
                text(&w["short_description"])
            )
        })
        .collect()
}

/// A PDF string literal: parentheses and backslashes escaped; outside printable ASCII, which
/// the standard fonts cannot show without an encoding table, becomes '?'.
fn literal(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 2);
    out.push('(');
    for c in line.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

fn render(lines: &[String]) -> Vec<u8> {
    // A4 page, 11 pt text with 15 pt leading; 50 lines fit, the rest would overflow the page.
    let mut content = String::from("BT /F1 11 Tf 15 TL 50 790 Td\n");
    for line in lines.iter().take(50) {
        content.push_str(&literal(line));
        content.push_str(" Tj T*\n");
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        table.push_str(&format!("{offset:010} 00000 n \n"));
    }
    pdf.extend_from_slice(table.as_bytes());
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_decision_becomes_a_well_formed_pdf() {
        let decision = json!({
            "session_id": "s-1", "session_number": 7, "status": "Approved", "workflow_id": "w", "workflow_version": 1,
            "vendor_data": "alice (née Smith)", "created_at": "2026-11-26T00:00:00Z",
            "liveness_checks": [{"method": "PASSIVE", "status": "Approved", "score": 99.5, "face_quality": 80.0,
                                 "face_luminance": 120.0, "warnings": []}],
            "face_matches": [{"status": "In Review", "score": 65.0, "source_image_session_id": "s-0",
                              "warnings": [{"risk": "LOW_FACE_MATCH_SIMILARITY", "short_description": "Low face match similarity"}]}],
        });
        let pdf = decision_pdf(&decision);
        let text = String::from_utf8(pdf.clone()).unwrap();
        assert!(text.starts_with("%PDF-1.4\n") && text.ends_with("%%EOF\n"));
        assert!(text.contains("(Status: Approved) Tj"));
        assert!(text.contains("(Vendor data: alice \\(n?e Smith\\)) Tj"));
        assert!(text.contains("warning LOW_FACE_MATCH_SIMILARITY"));
        // Every xref offset points at its object.
        let xref_at: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[xref_at..].starts_with("xref\n"));
        for (i, line) in text[xref_at..].lines().skip(3).take(5).enumerate() {
            let offset: usize = line[..10].parse().unwrap();
            assert!(
                text[offset..].starts_with(&format!("{} 0 obj", i + 1)),
                "object {}",
                i + 1
            );
        }
        // The stream length is exact.
        let length: usize = text
            .split("/Length ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let start = text.find(">>\nstream\n").unwrap() + ">>\nstream\n".len();
        assert_eq!(&text[start + length..start + length + 9], "endstream");
    }
}
