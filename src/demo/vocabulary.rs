//! The words a synthetic customer base is made of.

use entity::InteractionChannel;

/// A place customers live: country, region, cities, time zone, locale.
pub struct Place {
    pub country: &'static str,
    pub region: &'static str,
    pub cities: &'static [&'static str],
    pub time_zone: &'static str,
    pub locale: &'static str,
    /// Relative weight in the customer base.
    pub weight: u32,
    pub chinese_names: bool,
}

pub const PLACES: &[Place] = &[
    Place {
        country: "CN",
        region: "Shanghai",
        cities: &["Shanghai"],
        time_zone: "Asia/Shanghai",
        locale: "zh-CN",
        weight: 14,
        chinese_names: true,
    },
    Place {
        country: "CN",
        region: "Beijing",
        cities: &["Beijing"],
        time_zone: "Asia/Shanghai",
        locale: "zh-CN",
        weight: 12,
        chinese_names: true,
    },
    Place {
        country: "CN",
        region: "Guangdong",
        cities: &["Guangzhou", "Shenzhen", "Dongguan", "Foshan"],
        time_zone: "Asia/Shanghai",
        locale: "zh-CN",
        weight: 14,
        chinese_names: true,
    },
    Place {
        country: "CN",
        region: "Zhejiang",
        cities: &["Hangzhou", "Ningbo", "Wenzhou"],
        time_zone: "Asia/Shanghai",
        locale: "zh-CN",
        weight: 9,
        chinese_names: true,
    },
    Place {
        country: "CN",
        region: "Sichuan",
        cities: &["Chengdu", "Mianyang"],
        time_zone: "Asia/Shanghai",
        locale: "zh-CN",
        weight: 7,
        chinese_names: true,
    },
    Place {
        country: "CN",
        region: "Jiangsu",
        cities: &["Nanjing", "Suzhou", "Wuxi"],
        time_zone: "Asia/Shanghai",
        locale: "zh-CN",
        weight: 8,
        chinese_names: true,
    },
    Place {
        country: "TW",
        region: "Taipei",
        cities: &["Taipei"],
        time_zone: "Asia/Taipei",
        locale: "zh-TW",
        weight: 3,
        chinese_names: true,
    },
    Place {
        country: "HK",
        region: "Hong Kong",
        cities: &["Hong Kong"],
        time_zone: "Asia/Hong_Kong",
        locale: "zh-HK",
        weight: 3,
        chinese_names: true,
    },
    Place {
        country: "SG",
        region: "Singapore",
        cities: &["Singapore"],
        time_zone: "Asia/Singapore",
        locale: "en-SG",
        weight: 3,
        chinese_names: true,
    },
    Place {
        country: "US",
        region: "California",
        cities: &["San Francisco", "Los Angeles", "San Diego"],
        time_zone: "America/Los_Angeles",
        locale: "en-US",
        weight: 8,
        chinese_names: false,
    },
    Place {
        country: "US",
        region: "New York",
        cities: &["New York", "Buffalo"],
        time_zone: "America/New_York",
        locale: "en-US",
        weight: 6,
        chinese_names: false,
    },
    Place {
        country: "US",
        region: "Texas",
        cities: &["Austin", "Houston", "Dallas"],
        time_zone: "America/Chicago",
        locale: "en-US",
        weight: 4,
        chinese_names: false,
    },
    Place {
        country: "GB",
        region: "England",
        cities: &["London", "Manchester", "Bristol"],
        time_zone: "Europe/London",
        locale: "en-GB",
        weight: 5,
        chinese_names: false,
    },
    Place {
        country: "CA",
        region: "Ontario",
        cities: &["Toronto", "Ottawa"],
        time_zone: "America/Toronto",
        locale: "en-CA",
        weight: 2,
        chinese_names: false,
    },
    Place {
        country: "AU",
        region: "New South Wales",
        cities: &["Sydney", "Newcastle"],
        time_zone: "Australia/Sydney",
        locale: "en-AU",
        weight: 2,
        chinese_names: false,
    },
];

pub const CHINESE_SURNAMES: &[(&str, &str)] = &[
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("林", "lin"),
    ("罗", "luo"),
    ("高", "gao"),
];
pub const CHINESE_GIVEN_FEMALE: &[(&str, &str)] = &[
    ("娜", "na"),
    ("静", "jing"),
    ("敏", "min"),
    ("丽", "li"),
    ("婷", "ting"),
    ("雪", "xue"),
    ("芳", "fang"),
    ("欣怡", "xinyi"),
    ("梓涵", "zihan"),
    ("雨桐", "yutong"),
    ("佳怡", "jiayi"),
    ("晓燕", "xiaoyan"),
];
pub const CHINESE_GIVEN_MALE: &[(&str, &str)] = &[
    ("伟", "wei"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("杰", "jie"),
    ("浩然", "haoran"),
    ("子轩", "zixuan"),
    ("宇航", "yuhang"),
    ("建国", "jianguo"),
    ("志明", "zhiming"),
];
pub const ENGLISH_SURNAMES: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor",
    "Clark", "Walker", "Hall", "Allen", "Young", "King", "Wright", "Scott", "Green", "Baker",
    "Adams",
];
pub const ENGLISH_GIVEN_FEMALE: &[&str] = &[
    "Emma",
    "Olivia",
    "Ava",
    "Sophia",
    "Isabella",
    "Mia",
    "Charlotte",
    "Amelia",
    "Grace",
    "Chloe",
    "Lucy",
    "Ella",
];
pub const ENGLISH_GIVEN_MALE: &[&str] = &[
    "James", "Oliver", "William", "Henry", "Lucas", "Benjamin", "Jack", "Thomas", "Daniel",
    "Samuel", "Noah", "Leo",
];

pub const INCOME_BANDS: &[(&str, u32)] = &[
    ("<50k", 30),
    ("50k-100k", 35),
    ("100k-200k", 22),
    (">200k", 13),
];
pub const OCCUPATIONS: &[&str] = &[
    "engineer",
    "teacher",
    "designer",
    "nurse",
    "doctor",
    "student",
    "sales",
    "manager",
    "entrepreneur",
    "accountant",
    "civil servant",
    "lawyer",
    "artist",
    "retired",
    "freelancer",
];
pub const INTERESTS: &[&str] = &[
    "coffee",
    "tea",
    "travel",
    "fitness",
    "running",
    "yoga",
    "cooking",
    "baking",
    "photography",
    "music",
    "reading",
    "gaming",
    "fashion",
    "beauty",
    "outdoors",
    "pets",
    "parenting",
    "home decor",
    "tech",
    "wine",
];
pub const LIFESTYLES: &[&str] = &[
    "urban professional",
    "young family",
    "student life",
    "health conscious",
    "trend seeker",
    "budget minded",
    "luxury lover",
    "eco conscious",
];
pub const NEEDS: &[&str] = &[
    "first purchase",
    "upgrade",
    "gift",
    "replacement",
    "investment",
    "first home",
    "daily use",
];
pub const ACQUISITION_CHANNELS: &[(&str, u32)] = &[
    ("organic", 30),
    ("paid_search", 18),
    ("social", 20),
    ("referral", 12),
    ("offline_store", 12),
    ("partner", 8),
];
pub const ORDER_CHANNELS: &[(&str, u32)] =
    &[("web", 45), ("app", 30), ("store", 15), ("wechat", 10)];
pub const INTERACTION_SUBJECTS: &[&str] = &[
    "delivery question",
    "return request",
    "product advice",
    "complaint",
    "membership inquiry",
    "thank you",
    "follow-up call",
    "store visit",
    "campaign reply",
];

/// A topic feedback is about: a tag as a survey form offers it (already normalised, as
/// `recordFeedback` stores tags), how often an answer mentions it, and comments about it.
pub struct FeedbackTopic {
    pub tag: &'static str,
    /// The chance that an answer mentions it, for a detractor, a passive and a promoter
    /// (CSAT 1–2, 3 and 4–5 alike): detractors write about delivery and returns far more
    /// often than promoters do, promoters about quality, so the topics' lift has
    /// something to show.
    pub rates: [f64; 3],
    /// Comments in Chinese: complaints, then praise.
    pub chinese: [&'static [&'static str]; 2],
    /// Comments in English: complaints, then praise.
    pub english: [&'static [&'static str]; 2],
}

pub const FEEDBACK_TOPICS: &[FeedbackTopic] = &[
    FeedbackTopic {
        tag: "delivery",
        rates: [0.45, 0.22, 0.10],
        chinese: [
            &[
                "快递太慢了，比承诺的时间晚了三天才到。",
                "物流信息一直不更新，包裹等了一个多星期。",
            ],
            &[
                "发货很快，第二天就收到了。",
                "物流速度很快，快递员也很客气。",
            ],
        ],
        english: [
            &[
                "The delivery was late again and the courier never called.",
                "My parcel arrived a week after the promised delivery date.",
            ],
            &[
                "Fast delivery, the parcel arrived the next morning.",
                "Delivery was quick and the courier was friendly.",
            ],
        ],
    },
    FeedbackTopic {
        tag: "price",
        rates: [0.30, 0.28, 0.12],
        chinese: [
            &["价格太贵了，比别家贵不少。", "涨价太厉害，优惠券也不能用。"],
            &["性价比很高，价格实惠。", "价格合理，活动力度很大。"],
        ],
        english: [
            &[
                "Too expensive compared with other shops.",
                "Prices went up again and my coupon did not work.",
            ],
            &[
                "Good value for the price.",
                "Fair prices and the seasonal sale was generous.",
            ],
        ],
    },
    FeedbackTopic {
        tag: "quality",
        rates: [0.28, 0.25, 0.40],
        chinese: [
            &["质量一般，用了一次就坏了。", "做工粗糙，和图片差别很大。"],
            &["质量很好，做工精细。", "面料舒服，质量超出预期。"],
        ],
        english: [
            &[
                "Poor quality, it broke after the first use.",
                "The stitching came apart and the colour looks nothing like the photos.",
            ],
            &[
                "Excellent quality, it feels solid and durable.",
                "The fabric is soft and the quality exceeded my expectations.",
            ],
        ],
    },
    FeedbackTopic {
        tag: "service",
        rates: [0.30, 0.15, 0.28],
        chinese: [
            &[
                "客服态度很差，问题一直没有解决。",
                "打了三次电话，客服都说要等待处理。",
            ],
            &["客服很耐心，服务很周到。", "门店店员热情专业，服务很好。"],
        ],
        english: [
            &[
                "Customer support took a week to answer my email.",
                "The support agent was rude and my problem is still not solved.",
            ],
            &[
                "The staff were friendly and helpful.",
                "Customer support solved my problem within minutes.",
            ],
        ],
    },
    FeedbackTopic {
        tag: "packaging",
        rates: [0.10, 0.10, 0.14],
        chinese: [
            &["包装破损，盒子都压坏了。", "包装太简陋，商品有划痕。"],
            &["包装精美，送人很合适。", "包装很用心，环保又结实。"],
        ],
        english: [
            &[
                "The box was crushed and the packaging was torn.",
                "Flimsy packaging, the item arrived scratched.",
            ],
            &[
                "Lovely packaging, perfect as a gift.",
                "Sturdy recyclable packaging, nicely done.",
            ],
        ],
    },
    FeedbackTopic {
        tag: "returns",
        rates: [0.18, 0.06, 0.03],
        chinese: [
            &[
                "退款太慢了，等了两个星期还没到账。",
                "退货流程太麻烦，还要自己付运费。",
            ],
            &["退货很方便，退款当天就到账了。"],
        ],
        english: [
            &[
                "The refund took weeks to process.",
                "Returning an item is complicated and I had to pay the shipping myself.",
            ],
            &["Returns were easy and the refund came the same day."],
        ],
    },
    FeedbackTopic {
        tag: "app",
        rates: [0.10, 0.07, 0.06],
        chinese: [
            &["手机应用经常闪退，下单很麻烦。", "小程序结账页面总是卡住。"],
            &["应用界面简洁，下单很方便。"],
        ],
        english: [
            &[
                "The app keeps crashing at checkout.",
                "The checkout page froze twice on my phone.",
            ],
            &["The app is simple and checkout takes seconds."],
        ],
    },
];

/// The channels answers come through, for customers with a Chinese locale and for others.
pub const FEEDBACK_CHANNELS_CHINESE: &[(Option<InteractionChannel>, u32)] = &[
    (Some(InteractionChannel::Wechat), 40),
    (Some(InteractionChannel::Web), 20),
    (Some(InteractionChannel::Sms), 15),
    (Some(InteractionChannel::Email), 12),
    (Some(InteractionChannel::Phone), 5),
    (Some(InteractionChannel::Visit), 5),
    // Imported answers whose channel was not recorded.
    (None, 3),
];
pub const FEEDBACK_CHANNELS_OTHER: &[(Option<InteractionChannel>, u32)] = &[
    (Some(InteractionChannel::Email), 45),
    (Some(InteractionChannel::Web), 25),
    (Some(InteractionChannel::Sms), 8),
    (Some(InteractionChannel::Phone), 10),
    (Some(InteractionChannel::Visit), 9),
    (None, 3),
];
