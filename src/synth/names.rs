//! Fixed vocabularies: the county's townships, schools' naming, and the pools that Chinese names
//! are drawn from. Nothing here is random; the generator draws from these with its seeded RNG.

/// The county (a 6-digit 行政区划代码) that the synthetic townships belong to.
pub const COUNTY_CODE: &str = "431102";

/// A township (乡镇街道): the 3-digit suffix of its 9-digit code, its name, and a population
/// weight (urban 街道 are larger than rural 乡).
pub struct TownshipDef {
    pub suffix: u16,
    pub name: &'static str,
    pub weight: u32,
}

/// 18 townships: 街道 001–0xx, 镇 1xx, 乡 2xx, as in the statistical division codes.
pub const TOWNSHIPS: &[TownshipDef] = &[
    TownshipDef { suffix: 1, name: "东城街道", weight: 95 },
    TownshipDef { suffix: 2, name: "西城街道", weight: 85 },
    TownshipDef { suffix: 3, name: "南津街道", weight: 70 },
    TownshipDef { suffix: 4, name: "北郊街道", weight: 55 },
    TownshipDef { suffix: 5, name: "七里店街道", weight: 50 },
    TownshipDef { suffix: 6, name: "徐家井街道", weight: 45 },
    TownshipDef { suffix: 100, name: "城关镇", weight: 80 },
    TownshipDef { suffix: 101, name: "水口山镇", weight: 40 },
    TownshipDef { suffix: 102, name: "石岩头镇", weight: 38 },
    TownshipDef { suffix: 103, name: "富家桥镇", weight: 45 },
    TownshipDef { suffix: 104, name: "邮亭圩镇", weight: 42 },
    TownshipDef { suffix: 105, name: "黄田铺镇", weight: 36 },
    TownshipDef { suffix: 106, name: "菱角塘镇", weight: 30 },
    TownshipDef { suffix: 107, name: "接履桥镇", weight: 34 },
    TownshipDef { suffix: 108, name: "珠山镇", weight: 32 },
    TownshipDef { suffix: 200, name: "梳子铺乡", weight: 18 },
    TownshipDef { suffix: 201, name: "大庆坪乡", weight: 16 },
    TownshipDef { suffix: 202, name: "杨柳坪乡", weight: 14 },
];

/// Area codes that appear in 身份证号 of the county's youths (most were born in the county; some
/// in neighbouring counties or elsewhere in the province), with weights.
pub const ID_AREAS: &[(&str, u32)] = &[
    ("431102", 780),
    ("431103", 70),
    ("431121", 40),
    ("431122", 30),
    ("431123", 20),
    ("431124", 20),
    ("430102", 15),
    ("430111", 10),
    ("441900", 10),
    ("440306", 5),
];

/// Common surnames with rough relative frequencies (per 10,000), plus a few compound ones.
pub const SURNAMES: &[(&str, u32)] = &[
    ("王", 710),
    ("李", 700),
    ("张", 670),
    ("刘", 540),
    ("陈", 460),
    ("杨", 310),
    ("黄", 220),
    ("赵", 210),
    ("吴", 200),
    ("周", 190),
    ("徐", 130),
    ("孙", 130),
    ("马", 120),
    ("朱", 120),
    ("胡", 115),
    ("郭", 110),
    ("何", 110),
    ("高", 105),
    ("林", 100),
    ("罗", 100),
    ("郑", 95),
    ("梁", 90),
    ("谢", 85),
    ("宋", 80),
    ("唐", 90),
    ("许", 75),
    ("韩", 75),
    ("冯", 70),
    ("邓", 75),
    ("曹", 70),
    ("彭", 70),
    ("曾", 70),
    ("肖", 65),
    ("田", 60),
    ("董", 60),
    ("袁", 55),
    ("潘", 55),
    ("于", 55),
    ("蒋", 60),
    ("蔡", 55),
    ("余", 55),
    ("杜", 50),
    ("叶", 50),
    ("程", 50),
    ("苏", 45),
    ("魏", 45),
    ("吕", 45),
    ("丁", 45),
    ("任", 45),
    ("沈", 40),
    ("姚", 40),
    ("卢", 40),
    ("姜", 40),
    ("崔", 35),
    ("钟", 35),
    ("谭", 40),
    ("陆", 35),
    ("汪", 35),
    ("范", 35),
    ("金", 30),
    ("石", 30),
    ("廖", 35),
    ("贾", 30),
    ("夏", 30),
    ("韦", 30),
    ("付", 30),
    ("方", 30),
    ("白", 28),
    ("邹", 30),
    ("孟", 28),
    ("熊", 28),
    ("秦", 28),
    ("邱", 28),
    ("江", 26),
    ("尹", 26),
    ("薛", 25),
    ("闫", 25),
    ("段", 25),
    ("雷", 26),
    ("侯", 24),
    ("龙", 26),
    ("史", 24),
    ("陶", 22),
    ("黎", 22),
    ("贺", 24),
    ("顾", 20),
    ("毛", 20),
    ("郝", 18),
    ("龚", 18),
    ("邵", 18),
    ("万", 18),
    ("钱", 16),
    ("严", 16),
    ("覃", 14),
    ("武", 16),
    ("戴", 16),
    ("莫", 14),
    ("孔", 14),
    ("向", 16),
    ("汤", 16),
    ("易", 14),
    ("文", 14),
    ("欧阳", 8),
    ("上官", 2),
    ("司马", 2),
    ("诸葛", 1),
    ("甘", 6),
    ("左", 6),
    ("伍", 8),
    ("聂", 8),
    ("柳", 6),
    ("凌", 5),
    ("宁", 6),
];

/// Given-name characters that lean male.
pub const GIVEN_MALE: &str = "伟强磊军洋勇杰涛明超浩宇轩博文俊鹏辉晨睿泽航昊然凯鑫斌志刚建华国栋毅峰\
    锋川松柏林森海波江河山岩石磊鑫焱垚铭锐锦程诚信义仁智礼德伦振兴旭东阳光耀祥瑞麒麟骏驰腾飞翔\
    宏远达成功业立新春雷霆霖霄云龙虎彪豪雄武威健康乐天佑恩宸琛瑾琨瑜瑞琪璋逸轩弘毅睿哲思远子涵\
    梓豪宇航晨阳浩然皓轩子墨一鸣子轩嘉懿煜城懿轩烨伟苑博伟泽熠彤鸿煊博涛烨霖烨华煜祺智宸正豪昊然";

/// Given-name characters that lean female.
pub const GIVEN_FEMALE: &str = "芳娜敏静丽婷雪琳欣怡涵萱雨梦佳思诗悦妍可馨语琪瑶蕾薇莉颖慧娟霞燕\
    红艳玲桂英兰凤梅秀珍月莹晶洁琴露冰清荷莲菲菁茜蓉蓓蕊萌萍美妮娅婉嫣媛姝婕娴如若依伊彤桐朵\
    晓晴晗曦昕映春秋冬夏雯霏霓云倩倪佩璐瑾瑜瑛璇玥珊珂琦琬瑷嘉宁安乐心妤姗姿娇媚嫦蝶丹青紫\
    梓诺一诺语桐欣妍子涵梦瑶雨萱可馨诗涵佳怡思彤欣怡若汐芷若沐晴婉清";

/// Characters used for either sex.
pub const GIVEN_ANY: &str = "子一宇晨安乐嘉文明天佳家新星辰鑫俊华泽林宁远志博思雨语子欣浩奕\
    亦依逸艺益毅意宜怡仪以义忆易弈轶翊熠峻骏隽钧君筠允昀韵云芸耘运蕴";

/// The local office that keeps a civil-affairs record, by township kind.
pub fn civil_office(township_name: &str, pick: u32) -> String {
    match pick % 10 {
        0 => "区民政局儿童福利股".to_string(),
        1 => "区未成年人救助保护中心".to_string(),
        _ if township_name.ends_with("街道") => format!("{township_name}社会事务办"),
        _ => format!("{township_name}民政办"),
    }
}

/// Splits a static pool string into its characters (white space removed), deduplicated in
/// first-seen order so that the pool is stable.
pub fn pool(chars: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::new();
    for c in chars.chars().filter(|c| !c.is_whitespace()) {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}
