# Characters kept in the subset: ASCII, Latin-1 punctuation, every GB2312 character
# (hanzi and its symbol rows), CJK and full-width punctuation, arrows and shapes (▲▼●■).
# Characters the font lacks are left out by pyftsubset.
chars = set(chr(c) for c in range(0x20, 0x7F))
chars |= set("·×÷°±µ")
for hi in range(0xA1, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            chars |= set(bytes([hi, lo]).decode('gb2312'))
        except UnicodeDecodeError:
            pass
chars |= set(chr(c) for c in range(0x3000, 0x3040))   # CJK symbols and punctuation
chars |= set(chr(c) for c in range(0xFF01, 0xFF5F))   # full-width forms
chars |= set(chr(c) for c in range(0x2460, 0x2474))   # ①..⑳
chars |= set(chr(c) for c in range(0x2010, 0x2060))   # general punctuation (—‖…‰※)
chars |= set(chr(c) for c in range(0x2190, 0x2200))   # arrows (↑↓→)
chars |= set(chr(c) for c in range(0x25A0, 0x2700))   # shapes and symbols (▲▼●■★)
chars |= set("·、，；：（）《》“”‘’—…–‰℃№→←↑↓≤≥≈≠")
open('chars.txt', 'w', encoding='utf-8').write(''.join(sorted(chars)))
print(len(chars))
