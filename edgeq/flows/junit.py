"""JUnit XML for CI dashboards: one test case per verification run."""

import xml.etree.ElementTree as ET
from pathlib import Path


def write_junit(path, result) -> Path:
    path = Path(path)
    suite = ET.Element("testsuite", name=f"edgeq.verify.{result.target}", tests="1",
                       failures="0" if result.bit_exact else "1")
    case = ET.SubElement(suite, "testcase", classname=f"edgeq.{result.target}",
                         name="bit_exact")
    props = ET.SubElement(case, "properties")
    for key, value in result.figures.items():
        ET.SubElement(props, "property", name=str(key), value=str(value))
    if not result.bit_exact:
        failure = ET.SubElement(case, "failure", message=result.summary())
        failure.text = str(result.difference) if result.difference else result.summary()
    ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)
    return path
