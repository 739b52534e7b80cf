// The tracking page's one enhancement: the ward list follows the chosen province (2025 units).
"use strict";
const province = document.getElementById("province");
const ward = document.getElementById("ward");
if (province && ward) {
  province.addEventListener("change", async () => {
    ward.innerHTML = '<option value="">—</option>';
    if (!province.value) return;
    const response = await fetch(`/v1/units/provinces/${province.value}/wards`);
    if (!response.ok) return;
    const { units } = await response.json();
    for (const unit of units) ward.add(new Option(unit.name, unit.code));
  });
}
